package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/bench"
	"github.com/mqttboard/mqttboard/packet"
)

// BenchOptions are the flags of `mqttboard bench`.
type BenchOptions struct {
	IO          *IOStreams
	Targets     []string // name=host:port, or host:port
	Host        string
	Port        int
	Version     string
	Scenarios   []string
	QoS         []int
	Publishers  int
	Subscribers int
	Size        int
	Duration    time.Duration
	Rate        float64
	Stagger     bool
	Inflight    int
	Persistent  bool
	PIDs        []string // name=pid: report the broker's RSS
	Idle        int
	Settle      time.Duration // --idle: how long the connections stay open before RSS is read again
	Busy        int           // --idle: QoS 1 PUBLISHes each connection sends once, before it settles
	Output      string
}

// NewCmdBench builds `mqttboard bench`; runF replaces the run function in
// tests.
func NewCmdBench(ios *IOStreams, runF func(context.Context, *BenchOptions) error) *cobra.Command {
	o := &BenchOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a broker: throughput, loss and latency, side by side for several brokers",
		Long: `Measure one or more brokers with the same load, in one run.

Publishers and subscribers run on raw connections through mqttboard's codec,
so the load generator costs little next to the broker. Each payload carries
its send time, publisher and sequence number: the report gives delivered
messages per second, lost and duplicated deliveries, and latency percentiles.
p50, p99, p99.9 and max run from the send to the subscriber's read. With
--rate on Linux, "arr p50/p99/p99.9" run to the delivery's arrival in the
subscriber's socket (the kernel's receive timestamp): the broker's part,
without the wait of a delivery that arrived with many others for this
generator to read them one after another.

Scenarios:
  fanout  every publisher -> one topic -> every subscriber
  fanin   publisher i -> bench/i; every subscriber on bench/#
  pairs   publisher i -> bench/i -> subscriber i`,
		Example: `  # our broker and mosquitto, side by side
  mqttboard bench --target mqttboard=127.0.0.1:1883 --target mosquitto=127.0.0.1:1884 \
      --scenario fanout --subscribers 100 --qos 0,1 --duration 10s

  # p99 latency at 1,000 msg/s
  mqttboard bench -p 1883 --scenario pairs --publishers 10 --subscribers 10 --rate 1000

  # RSS per idle connection (Linux): 10,000 idle clients, broker pid 1234
  mqttboard bench -p 1883 --idle 10000 --pid 1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Targets) == 0 {
				o.Targets = []string{o.Host + ":" + strconv.Itoa(o.Port)}
			}
			if o.Output != "text" && o.Output != "json" {
				return usageError(fmt.Errorf("--output %q: use text or json", o.Output))
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return benchRun(cmd.Context(), o)
		},
	}
	for _, mode := range []string{"conn", "pub", "sub"} {
		cmd.AddCommand(newCmdBenchLoad(ios, mode, nil))
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.Targets, "target", nil, "broker to measure, `name=host:port` (repeatable; default -h/-p); a cluster's nodes as name=host:port,host:port,...: publisher i connects to node i, subscriber i to node i+1 (each pair crosses nodes)")
	fs.StringVarP(&o.Host, "host", "h", "127.0.0.1", "broker host when no --target is given")
	fs.IntVarP(&o.Port, "port", "p", 1883, "broker port when no --target is given")
	fs.StringVarP(&o.Version, "mqtt-version", "V", "5", "protocol version: 5 or 3.1.1")
	fs.StringSliceVar(&o.Scenarios, "scenario", []string{"fanout"}, "fanout, fanin, pairs (comma separated for several)")
	fs.IntSliceVarP(&o.QoS, "qos", "q", []int{0}, "QoS 0 and/or 1 (comma separated for both)")
	fs.IntVar(&o.Publishers, "publishers", 1, "publisher connections")
	fs.IntVar(&o.Subscribers, "subscribers", 1, "subscriber connections")
	fs.IntVar(&o.Size, "size", 64, "payload bytes (at least 16)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "publishing time per measurement")
	fs.Float64Var(&o.Rate, "rate", 0, "total messages per second over all publishers (0: as fast as possible)")
	fs.BoolVar(&o.Stagger, "stagger", false, "with --rate: spread the publishers over the interval instead of sending together (one message at a time, as from independent devices)")
	fs.IntVar(&o.Inflight, "inflight", 100, "unacknowledged QoS 1 messages per publisher")
	fs.BoolVar(&o.Persistent, "persistent", false, "subscribers keep persistent sessions (5.0 session expiry 60 s, 3.1.1 clean session false): with a broker's --data, every QoS 1 delivery is stored before the publisher's PUBACK")
	fs.StringArrayVar(&o.PIDs, "pid", nil, "`name=pid` of a target's broker process: report its RSS (Linux); a cluster's as name=pid,pid,...: the sum")
	fs.IntVar(&o.Idle, "idle", 0, "instead of traffic, open this many idle connections and report RSS per connection (needs --pid)")
	fs.DurationVar(&o.Settle, "settle", 0, "with --idle: keep the connections open this long and report RSS again (the runtime returns a ramp's transient memory over some seconds)")
	fs.IntVar(&o.Busy, "busy", 0, "with --idle: once connected, each connection sends this many QoS 1 PUBLISHes in one write and reads their PUBACKs, then stays idle: RSS per connection that was busy")
	fs.StringVarP(&o.Output, "output", "o", "text", "text or json (one object per measurement)")
	return cmd
}

type benchTarget struct{ name, addr, pid string }

func parseTargets(o *BenchOptions) ([]benchTarget, error) {
	pids := map[string]string{}
	for _, p := range o.PIDs {
		name, pid, ok := strings.Cut(p, "=")
		if !ok {
			name, pid = "", p
		}
		for one := range strings.SplitSeq(pid, ",") {
			if _, err := strconv.Atoi(one); err != nil {
				return nil, usageError(fmt.Errorf("--pid %q: want name=pid with a numeric pid (a cluster's: name=pid,pid,...)", p))
			}
		}
		pids[name] = pid
	}
	var ts []benchTarget
	names := map[string]bool{}
	for _, t := range o.Targets {
		name, addr, ok := strings.Cut(t, "=")
		if !ok {
			name, addr = t, t
		}
		for one := range strings.SplitSeq(addr, ",") {
			if _, port, err := net.SplitHostPort(one); err != nil || port == "" {
				return nil, usageError(fmt.Errorf("--target %q: want name=host:port or host:port (a cluster's nodes: name=host:port,host:port,...)", t))
			}
		}
		pid := pids[name]
		if pid == "" && len(o.Targets) == 1 && len(pids) == 1 {
			// One broker, one --pid: whatever the pid was named, it is
			// that broker's.
			for _, p := range pids {
				pid = p
			}
		}
		names[name] = true
		ts = append(ts, benchTarget{name, addr, pid})
	}
	if len(o.Targets) > 1 {
		for name := range pids {
			if !names[name] {
				return nil, usageError(fmt.Errorf("--pid %s=...: no --target is named %q", name, name))
			}
		}
	}
	return ts, nil
}

// benchExit tags a bench error with its exit code: a broker that could not
// be reached is exit 3, one that refused the connection exit 4.
func benchExit(name string, err error) error {
	var de *bench.DialError
	switch {
	case errors.As(err, &de) && de.Refused:
		return withExit(ExitRefused, fmt.Errorf("%s: %w", name, err))
	case errors.As(err, &de):
		return withExit(ExitConnect, fmt.Errorf("%s: %w — is a broker running there?", name, err))
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func benchRun(ctx context.Context, o *BenchOptions) error {
	targets, err := parseTargets(o)
	if err != nil {
		return err
	}
	v, err := parseVersion(o.Version)
	if err != nil {
		return usageError(err)
	}
	if o.Busy != 0 && (o.Idle == 0 || o.Busy < 0 || o.Busy > 65535) {
		return usageError(errors.New("--busy takes 1 to 65535 messages, with --idle"))
	}
	if o.Idle > 0 {
		return benchIdle(ctx, o, targets, v)
	}
	// Every measurement is checked before the first one starts: a bad
	// combination found after minutes of measuring threw the results away.
	if o.Rate < 0 || o.Duration < 0 {
		return usageError(errors.New("--rate and --duration must not be negative"))
	}
	for _, sc := range o.Scenarios {
		for _, q := range o.QoS {
			if q < 0 || q > 1 {
				return usageError(fmt.Errorf("--qos %d: bench measures QoS 0 and 1", q))
			}
			cfg := bench.Config{Addr: targets[0].addr, Version: v, Scenario: bench.Scenario(sc), Publishers: o.Publishers,
				Subscribers: o.Subscribers, QoS: packet.QoS(q), Size: o.Size, Duration: o.Duration, Inflight: o.Inflight}
			if err := cfg.Validate(); err != nil {
				return usageError(fmt.Errorf("--scenario %s, --qos %d: %w", sc, q, err))
			}
		}
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', tabwriter.AlignRight)
	// Whatever happens later, what was measured is printed.
	defer tw.Flush()
	if o.Output == "text" {
		fmt.Fprintln(tw, "broker\tscenario\tqos\tpub\tsub\tsent\tdelivered msg/s\tlost\tdup\tp50\tp99\tp99.9\tmax\tRSS MiB\tCPU core\tCPU µs/msg\tarr p50\tarr p99\tarr p99.9\t")
	}
	for _, sc := range o.Scenarios {
		for _, q := range o.QoS {
			for _, t := range targets {
				cfg := bench.Config{Addr: t.addr, Version: v, Scenario: bench.Scenario(sc), Publishers: o.Publishers,
					Subscribers: o.Subscribers, QoS: packet.QoS(q), Size: o.Size, Duration: o.Duration, Rate: o.Rate, Stagger: o.Stagger,
					Inflight: o.Inflight, Prefix: "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36), Persistent: o.Persistent}
				if strings.Contains(t.addr, ",") {
					cfg.Addr, cfg.Nodes = "", strings.Split(t.addr, ",")
				}
				if o.Output == "text" {
					fmt.Fprintf(o.IO.ErrOut, "measuring %s: %s, QoS %d, %d publishers, %d subscribers, %v...\n",
						t.name, sc, q, o.Publishers, o.Subscribers, o.Duration)
				}
				cpu0, t0 := cpuSeconds(t.pid), time.Now()
				res, err := bench.Run(ctx, cfg)
				if err != nil {
					return benchExit(t.name, err)
				}
				rss := rssMiB(t.pid)
				// The broker's CPU (user + system) over the whole
				// measurement, connecting and draining included, in cores.
				cpu, perMsg := -1.0, -1.0
				if cpu0 >= 0 {
					used := cpuSeconds(t.pid) - cpu0
					cpu = used / time.Since(t0).Seconds()
					if res.Delivered > 0 {
						perMsg = used / float64(res.Delivered) * 1e6
					}
				}
				if o.Output == "json" {
					if err := json.NewEncoder(o.IO.Out).Encode(map[string]any{
						"broker": t.name, "scenario": sc, "qos": q, "publishers": res.Config.Publishers,
						"subscribers": res.Config.Subscribers, "size": res.Config.Size, "sent": res.Sent,
						"expected": res.Expected, "delivered": res.Delivered, "lost": res.Lost(), "dups": res.Dups,
						"elapsed_s": res.Elapsed.Seconds(), "delivered_per_s": res.DeliveredRate(),
						"p50_us": res.P50.Microseconds(), "p90_us": res.P90.Microseconds(), "p99_us": res.P99.Microseconds(),
						"p999_us": res.P999.Microseconds(), "max_us": res.Max.Microseconds(), "rss_mib": rss, "cpu_cores": cpu, "cpu_us_per_msg": perMsg,
						"arrived": res.Arrived, "arr_p50_us": res.ArrP50.Microseconds(), "arr_p99_us": res.ArrP99.Microseconds(),
						"arr_p999_us": res.ArrP999.Microseconds(), "arr_max_us": res.ArrMax.Microseconds(),
					}); err != nil {
						return err
					}
					continue
				}
				arr := [3]string{"-", "-", "-"}
				if res.Arrived > 0 {
					for i, d := range []time.Duration{res.ArrP50, res.ArrP99, res.ArrP999} {
						arr[i] = roundDur(d).String()
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.0f\t%d\t%d\t%v\t%v\t%v\t%v\t%s\t%s\t%s\t%s\t%s\t%s\t\n", t.name, sc, q,
					res.Config.Publishers, res.Config.Subscribers, res.Sent, res.DeliveredRate(), res.Lost(), res.Dups,
					roundDur(res.P50), roundDur(res.P99), roundDur(res.P999), roundDur(res.Max), fmtRSS(rss), fmtCPU(cpu, 3), fmtCPU(perMsg, 1),
					arr[0], arr[1], arr[2])
			}
		}
	}
	return tw.Flush()
}

// benchIdle opens o.Idle idle connections to each target and reports how
// much the broker's resident memory grew per connection.
func benchIdle(ctx context.Context, o *BenchOptions, targets []benchTarget, v packet.Version) error {
	for _, t := range targets {
		if t.pid == "" {
			return usageError(fmt.Errorf("--idle needs --pid %s=PID to read the broker's memory", t.name))
		}
	}
	if got, err := raiseNoFile(uint64(o.Idle) + 256); err != nil || got < uint64(o.Idle)+256 {
		fmt.Fprintf(o.IO.ErrOut, "warning: open file limit %d (%v): %d connections may not fit; run as root or raise ulimit -n\n", got, err, o.Idle)
	}
	for _, t := range targets {
		before := rssMiB(t.pid)
		conns, err := bench.Idle(ctx, t.addr, v, o.Idle)
		if err != nil {
			return benchExit(t.name, err)
		}
		after := rssMiB(t.pid)
		perConn := (after - before) * 1024 * 1024 / float64(o.Idle)
		fmt.Fprintf(o.IO.Out, "%s: %d idle connections: RSS %.1f -> %.1f MiB, %.0f bytes per connection\n", t.name, o.Idle, before, after, perConn)
		if o.Busy > 0 {
			if err := bench.Busy(conns, v, o.Busy); err != nil {
				for _, c := range conns {
					c.Close()
				}
				return benchExit(t.name, err)
			}
			busy := rssMiB(t.pid)
			fmt.Fprintf(o.IO.Out, "%s: %d connections after %d QoS 1 PUBLISHes each: RSS %.1f MiB, %.0f bytes per connection\n", t.name, o.Idle, o.Busy, busy, (busy-before)*1024*1024/float64(o.Idle))
		}
		if o.Settle > 0 {
			select {
			case <-time.After(o.Settle):
			case <-ctx.Done():
			}
			settled := rssMiB(t.pid)
			what := "idle connections"
			if o.Busy > 0 {
				what = "connections idle (after their PUBLISHes)"
			}
			fmt.Fprintf(o.IO.Out, "%s: %d %s after %v: RSS %.1f MiB, %.0f bytes per connection\n", t.name, o.Idle, what, o.Settle, settled, (settled-before)*1024*1024/float64(o.Idle))
		}
		for _, c := range conns {
			c.Close()
		}
	}
	return nil
}

// rssMiB reads a process's resident set size from /proc; -1 when unknown.
func rssMiB(pid string) float64 {
	if pid == "" {
		return -1
	}
	if strings.Contains(pid, ",") { // a cluster's nodes: the sum
		sum := 0.0
		for one := range strings.SplitSeq(pid, ",") {
			v := rssMiB(one)
			if v < 0 {
				return -1
			}
			sum += v
		}
		return sum
	}
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err == nil {
				return float64(kb) / 1024
			}
		}
	}
	return -1
}

// cpuSeconds is a process's user + system CPU time from /proc; -1 when
// unknown.
func cpuSeconds(pid string) float64 {
	if pid == "" {
		return -1
	}
	if strings.Contains(pid, ",") { // a cluster's nodes: the sum
		sum := 0.0
		for one := range strings.SplitSeq(pid, ",") {
			v := cpuSeconds(one)
			if v < 0 {
				return -1
			}
			sum += v
		}
		return sum
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: fields count from
	// after its closing parenthesis; utime and stime are fields 14, 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + s) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

func fmtCPU(c float64, prec int) string {
	if c < 0 {
		return "-"
	}
	return strconv.FormatFloat(c, 'f', prec, 64)
}

func fmtRSS(m float64) string {
	if m < 0 {
		return "-"
	}
	return strconv.FormatFloat(m, 'f', 1, 64)
}

// roundDur keeps three or four significant digits of a latency.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
