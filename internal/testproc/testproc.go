// Package testproc is for tests that start child processes (brokers,
// mosquitto, the built binary): [Tie] makes a child die with the test
// process, so a test binary that is killed (a timeout's panic, kill -9,
// a CI runner's cancel) leaves no broker or mosquitto_sub running.
package testproc

import "os/exec"

// Tie makes cmd's process receive SIGKILL when the test process dies
// (Linux: the parent-death signal; elsewhere nothing). Call it before
// cmd.Start. Linux sends the signal when the thread that started the
// child exits, which for Go code means the process: the runtime does not
// end its threads unless a goroutine locked to one exits (none of the
// tests does).
func Tie(cmd *exec.Cmd) *exec.Cmd {
	tie(cmd)
	return cmd
}
