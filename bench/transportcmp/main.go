// Command transportcmp compares what an idle TCP connection costs in two
// event-loop designs, without MQTT on top (issue 15): gnet v2 (the loop
// owns the socket: raw fd, its own buffers) against mqttboard's
// broker/eventloop, in the broker's present design (socket: the descriptor
// taken out of the net.TCPConn into an eventloop.Socket) and its first one
// (eventloop: the runtime keeps the net.TCPConn; one epoll set only
// replaces the goroutine that would wait on it). It opens N connections to
// itself, sends one byte on each (so each side has read once), and prints
// heap + stacks + runtime overhead (Sys - HeapReleased) and RSS growth per
// connection, after a GC, including the client ends (the same in both):
//
//	cd bench/transportcmp && go run . -n 5000 -mode gnet
//	cd bench/transportcmp && go run . -n 5000 -mode socket
//	cd bench/transportcmp && go run . -n 5000 -mode eventloop
//	cd bench/transportcmp && go run . -n 5000 -mode clients   # the client ends alone
//
// It is its own module so that gnet never enters mqttboard's go.mod.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mqttboard/mqttboard/broker/eventloop"
	"github.com/panjf2000/gnet/v2"
)

type gnetServer struct {
	gnet.BuiltinEventEngine
	ready chan string
	n     sync.WaitGroup
}

func (s *gnetServer) OnBoot(e gnet.Engine) gnet.Action { return gnet.None }
func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	c.Discard(-1)
	s.n.Done()
	return gnet.None
}

type handler struct {
	c    net.Conn
	wg   *sync.WaitGroup
	once sync.Once
}

func (h *handler) Ready(eventloop.Events) {
	var b [16]byte
	h.c.SetReadDeadline(time.Now().Add(time.Millisecond))
	h.c.Read(b[:])
	h.once.Do(h.wg.Done)
}

// sockHandler is the broker's present design: the descriptor taken out
// of the net.TCPConn into an eventloop.Socket, read with system calls.
type sockHandler struct {
	sock eventloop.Socket
	wg   *sync.WaitGroup
	once sync.Once
}

func (h *sockHandler) Ready(ev eventloop.Events) {
	h.sock.Notify(ev)
	if ev&eventloop.In != 0 {
		var b [16]byte
		h.sock.ReadNow(b[:])
		h.once.Do(h.wg.Done)
	}
}

func rssKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func measure() (goBytes uint64, rss int) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys - ms.HeapReleased, rssKB()
}

func main() {
	n := flag.Int("n", 5000, "connections")
	gnetPort := flag.String("gnet-port", "18897", "the port gnet listens on (it cannot take :0)")
	mode := flag.String("mode", "socket", "gnet, socket (raw descriptors, the broker's transport), eventloop (net.TCPConn with the poller, the first design) or clients")
	flag.Parse()
	var wg sync.WaitGroup
	wg.Add(*n)
	var addr string
	var keep []any
	switch *mode {
	case "gnet":
		s := &gnetServer{}
		s.n.Add(*n)
		addr = "127.0.0.1:" + *gnetPort
		go gnet.Run(s, "tcp://"+addr, gnet.WithMulticore(true))
		time.Sleep(500 * time.Millisecond)
		defer func() { s.n.Wait() }()
		go func() { s.n.Wait(); wg.Add(-*n) }()
	case "eventloop", "socket", "clients":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		addr = l.Addr().String()
		p, err := eventloop.NewPoller()
		if err != nil {
			panic(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if *mode == "clients" {
					c.Close()
					wg.Done()
					continue
				}
				if *mode == "socket" {
					fd, raddr, err := eventloop.Detach(c)
					if err != nil {
						panic(err)
					}
					h := &sockHandler{wg: &wg}
					h.sock.Init(fd, raddr)
					keep = append(keep, h)
					p.Add(fd, h)
					continue
				}
				h := &handler{c: c, wg: &wg}
				keep = append(keep, h)
				rc, _ := c.(syscall.Conn).SyscallConn()
				rc.Control(func(fd uintptr) { p.Add(int(fd), h) })
			}
		}()
	}
	g0, r0 := measure()
	cs := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		c.Write([]byte{1})
		cs = append(cs, c)
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	g1, r1 := measure()
	fmt.Printf("%s: %d idle connections (both ends in this process): Go memory %.0f B/conn, RSS %.0f B/conn\n",
		*mode, *n, float64(g1-g0)/float64(*n), float64(r1-r0)*1024/float64(*n))
	runtime.KeepAlive(cs)
	runtime.KeepAlive(keep)
}
