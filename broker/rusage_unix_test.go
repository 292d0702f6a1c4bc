//go:build unix

package broker_test

import "syscall"

// cpuNanos is this process's user and system CPU time (getrusage).
func cpuNanos() (user, sys int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano(), ru.Stime.Nano()
}
