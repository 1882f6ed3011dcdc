#!/usr/bin/env -S blkmq sh
# What failures look like: each command prints what its Linux original
# prints, and the script goes on. The exit status is 1.
# Run: npm run cli -- sh docs/examples/errors.sh

frobnicate --now
cat /sys/devices/system/cpu/cpu9/online
cat /sys/devices/system/cpu
ls /sys/devices/system/cpu/cpu9
echo 0 > /sys/devices/system/cpu/cpu0/online
echo maybe > /sys/devices/system/cpu/cpu1/online
echo 0-1 > /sys/devices/system/cpu/online
modprobe nvme
rmmod null_blk
dmesg --level=bogus
sleep soon
echo done
