#!/usr/bin/env -S blkmq sh
# CPU hotplug through sysfs, as on an x86 v4.4 box: cpuN/online runs
# cpu_down()/cpu_up() with their notifiers; cpu0 cannot be unplugged.
# blk-mq follows: each hotplug event remaps software queues (one per CPU)
# onto hardware queues.
# Run: npm run cli -- sh docs/examples/hotplug.sh   (4 CPUs, seed 1)

cat /sys/devices/system/cpu/online
ls /sys/devices/system/cpu
# cpu0 has no "online" file: it is not hotpluggable.
ls /sys/devices/system/cpu/cpu0 /sys/devices/system/cpu/cpu2

modprobe null_blk nr_devices=1 submit_queues=2
# Two hardware queues for four CPUs: cpu0-1 on queue 0, cpu2-3 on queue 1.
cat /sys/block/nullb0/mq/0/cpu_list /sys/block/nullb0/mq/1/cpu_list

echo 0 > /sys/devices/system/cpu/cpu3/online
echo 0 > /sys/devices/system/cpu/cpu2/online
cat /sys/devices/system/cpu/online /sys/devices/system/cpu/offline
cat /sys/devices/system/cpu/cpu2/online
# v4.4 maps only online CPUs: two CPUs, two queues, one CPU each.
cat /sys/block/nullb0/mq/0/cpu_list /sys/block/nullb0/mq/1/cpu_list
ls /sys/block/nullb0/mq/1

# Writing the state a CPU is already in succeeds and changes nothing.
echo 0 > /sys/devices/system/cpu/cpu2/online

# strtobool(): y, Y and 1 mean online; n, N and 0 offline.
echo 1 > /sys/devices/system/cpu/cpu2/online
echo y > /sys/devices/system/cpu/cpu3/online
cat /sys/devices/system/cpu/online /sys/devices/system/cpu/offline
cat /sys/block/nullb0/mq/0/cpu_list /sys/block/nullb0/mq/1/cpu_list

rmmod null_blk
# Nothing leaked, nothing in the log that would fail a test.
kmemleak
