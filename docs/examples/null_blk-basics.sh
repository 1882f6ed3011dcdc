#!/usr/bin/env -S blkmq sh
# null_blk, the kernel's reference block device: load it, look at the
# queue and its hardware contexts in sysfs, tune a queue attribute, unload.
# Run: npm run cli -- sh docs/examples/null_blk-basics.sh   (4 CPUs, seed 1)

modprobe null_blk nr_devices=1 submit_queues=2 hw_queue_depth=32
ls /sys/block
ls /sys/block/nullb0/mq
cat /sys/block/nullb0/mq/0/cpu_list /sys/block/nullb0/mq/1/cpu_list
cat /sys/block/nullb0/mq/0/tags

cat /sys/block/nullb0/queue/nr_requests
echo 16 > /sys/block/nullb0/queue/nr_requests
cat /sys/block/nullb0/queue/nr_requests
# More than the tag set's depth is refused.
echo 64 > /sys/block/nullb0/queue/nr_requests
cat /sys/block/nullb0/queue/nr_requests

# Already loaded: modprobe does nothing.
modprobe null_blk

rmmod null_blk
ls /sys/block
kmemleak
