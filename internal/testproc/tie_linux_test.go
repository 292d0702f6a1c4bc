//go:build linux

package testproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTieKillsChildWithParent: a process (this test binary, re-run) starts
// `sleep` tied to it and is then killed with SIGKILL, as a test binary
// that hit its timeout or was killed by a runner is: the sleep dies with
// it. Without Tie it would run on, adopted by init.
func TestTieKillsChildWithParent(t *testing.T) {
	for _, tied := range []bool{true, false} {
		t.Run(fmt.Sprintf("tied=%v", tied), func(t *testing.T) {
			mid := exec.Command(os.Args[0], "-test.run", "^TestHelperParent$")
			mid.Env = append(os.Environ(), "TESTPROC_PARENT=1", "TESTPROC_TIED="+strconv.FormatBool(tied))
			out, err := mid.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := mid.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				mid.Process.Kill()
				t.Fatalf("the middle process said nothing: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "child ")))
			if err != nil {
				t.Fatalf("read %q", line)
			}
			defer syscall.Kill(pid, syscall.SIGKILL)
			mid.Process.Kill()
			mid.Wait()
			deadline := time.Now().Add(5 * time.Second)
			if !tied {
				deadline = time.Now().Add(300 * time.Millisecond) // the control: it must still run
			}
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // a process's death has no event here; bounded
			}
			if alive(pid) == tied {
				t.Fatalf("tied=%v: the child is alive=%v after its parent was killed", tied, alive(pid))
			}
		})
	}
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestHelperParent is the middle process of the test above.
func TestHelperParent(t *testing.T) {
	if os.Getenv("TESTPROC_PARENT") != "1" {
		t.Skip("only run by TestTieKillsChildWithParent")
	}
	cmd := exec.Command("sleep", "60")
	if os.Getenv("TESTPROC_TIED") == "true" {
		Tie(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("child %d\n", cmd.Process.Pid)
	cmd.Wait()
}
