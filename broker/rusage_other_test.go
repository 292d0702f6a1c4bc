//go:build !unix

package broker_test

// cpuNanos is not measured here.
func cpuNanos() (user, sys int64) { return -1, -1 }
