package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 in its user ABI.
const userHZ = 100

// cpuSample is the CPU time used so far by the processes one run involves.
type cpuSample struct {
	self, server, redis time.Duration
}

// sub returns the CPU time used between a and s.
func (s cpuSample) sub(a cpuSample) cpuSample {
	return cpuSample{self: s.self - a.self, server: s.server - a.server, redis: s.redis - a.redis}
}

// sampleCPU reads the CPU time of this process, of the server process
// serverPid (0: the server runs in this process) and of redis-server
// redisPid (0: none).
func sampleCPU(serverPid, redisPid int) cpuSample {
	var ru syscall.Rusage
	var s cpuSample
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if serverPid > 0 {
		s.server = procCPU(serverPid)
	}
	if redisPid > 0 {
		s.redis = procCPU(redisPid)
	}
	return s
}

// procCPU returns the user+system CPU time of pid from /proc/<pid>/stat, or
// 0 where that cannot be read (not Linux, or the process is gone).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; count fields after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // utime and stime are fields 14 and 15: 12 and 13 after ')'
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / userHZ
}

// redisPid returns the process id of the redis-server behind c (INFO
// server's process_id), or 0 when that is not a redis-server process of
// this machine: a Redis in a container reports its own pid namespace's id,
// which may name any process here.
func redisPid(ctx context.Context, c *redis.Client) int {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			if err != nil || !strings.HasPrefix(string(comm), "redis-server") {
				return 0
			}
			return pid
		}
	}
	return 0
}
