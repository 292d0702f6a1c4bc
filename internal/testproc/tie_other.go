//go:build !linux

package testproc

import "os/exec"

func tie(*exec.Cmd) {}
