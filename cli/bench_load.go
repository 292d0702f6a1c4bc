package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/bench"
	"github.com/mqttboard/mqttboard/packet"
)

// BenchLoadOptions are the flags of `mqttboard bench conn|pub|sub`,
// MQTTX CLI's bench commands.
type BenchLoadOptions struct {
	IO              *IOStreams
	Mode            string
	Host            string
	Port            int
	Version         string
	Count           int
	Interval        int // ms between clients
	Topic           string
	QoS             int
	Message         string
	MessageInterval int // ms between one client's messages
	Limit           int
	Duration        time.Duration
	Output          string
}

// newCmdBenchLoad builds one of `bench conn`, `bench pub`, `bench sub`.
func newCmdBenchLoad(ios *IOStreams, mode string, runF func(context.Context, *BenchLoadOptions) error) *cobra.Command {
	o := &BenchLoadOptions{IO: ios, Mode: mode}
	short := map[string]string{
		"conn": "Open many connections (MQTTX's bench conn): connect time percentiles",
		"pub":  "Many clients publishing (MQTTX's bench pub): messages per second, ack latency",
		"sub":  "Many clients subscribing (MQTTX's bench sub): messages received per second",
	}[mode]
	cmd := &cobra.Command{
		Use:   mode + " [flags]",
		Short: short,
		Long: short + `.

A progress line is printed every second and a summary with percentiles at
the end (Ctrl-C or --duration ends the run; bench pub --limit ends it
after that many messages per client). --output json prints the progress
and the summary as one JSON object per line.`,
		Example: map[string]string{
			"conn": "  mqttboard bench conn -c 1000 -i 5 -p 1883",
			"pub":  "  mqttboard bench pub -c 10 -t 'bench/%i' -im 100 --limit 100 -q 1",
			"sub":  "  mqttboard bench sub -c 50 -t 'bench/#' --duration 30s",
		}[mode],
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return benchLoadRun(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Host, "host", "h", "127.0.0.1", "broker host")
	fs.IntVarP(&o.Port, "port", "p", 1883, "broker port")
	fs.StringVarP(&o.Version, "mqtt-version", "V", "5", "protocol version: 5, 3.1.1 or 3.1")
	fs.IntVarP(&o.Count, "count", "c", 0, "clients (default 1000 for conn and sub, 100 for pub, as MQTTX)")
	fs.IntVarP(&o.Interval, "interval", "i", 10, "milliseconds between starting two clients")
	fs.DurationVar(&o.Duration, "duration", 0, "end the run after this long (default: until Ctrl-C; conn ends when all are connected)")
	fs.StringVarP(&o.Output, "output", "o", "text", "text or json (one object per line)")
	if mode != "conn" {
		fs.StringVarP(&o.Topic, "topic", "t", "mqttboard/bench/%i", "topic; %i is the client's number")
		fs.IntVarP(&o.QoS, "qos", "q", 0, "QoS 0, 1 or 2")
	}
	if mode == "pub" {
		fs.StringVarP(&o.Message, "message", "m", "Hello from mqttboard", "payload")
		fs.IntVar(&o.MessageInterval, "message-interval", 1000, "milliseconds between two messages of one client (MQTTX's -im)")
		fs.IntVar(&o.Limit, "limit", 0, "messages per client, then end (0: no limit)")
	}
	return cmd
}

func benchLoadRun(ctx context.Context, o *BenchLoadOptions) error {
	v, err := parseVersion(o.Version)
	if err != nil {
		return usageError(err)
	}
	if o.Output != "text" && o.Output != "json" {
		return usageError(fmt.Errorf("--output %q: use text or json", o.Output))
	}
	if o.Port < 1 || o.Port > 65535 {
		return usageError(fmt.Errorf("-p %d: a port is 1 to 65535", o.Port))
	}
	if o.Interval < 0 || o.MessageInterval < 0 || o.QoS < 0 || o.QoS > 2 {
		return usageError(errors.New("-i and --message-interval are 0 or more milliseconds; -q is 0, 1 or 2"))
	}
	l := bench.Load{Mode: o.Mode, Addr: o.Host + ":" + strconv.Itoa(o.Port), Version: v, Count: o.Count,
		Interval: time.Duration(o.Interval) * time.Millisecond, Topic: o.Topic, QoS: packet.QoS(o.QoS),
		MessageInterval: time.Duration(o.MessageInterval) * time.Millisecond, Limit: o.Limit, Duration: o.Duration}
	if o.Mode == "pub" {
		l.Message = []byte(o.Message)
	}
	if o.Interval == 0 {
		l.Interval = time.Nanosecond // "0" means no wait, not the default
	}
	if err := l.Validate(); err != nil {
		return usageError(err)
	}
	var mu sync.Mutex // progress comes from the run's ticker goroutine
	progress := func(p bench.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if o.Output == "json" {
			b, _ := json.Marshal(map[string]any{"mode": o.Mode, "elapsed_s": p.Elapsed.Round(time.Millisecond).Seconds(),
				"connected": p.Connected, "total": p.Total, "rate": p.Rate})
			fmt.Fprintf(o.IO.Out, "%s\n", b)
			return
		}
		line := fmt.Sprintf("[%4.0fs] connected %d/%d", p.Elapsed.Seconds(), p.Connected, l.Count)
		switch o.Mode {
		case "pub":
			line += fmt.Sprintf(", published %d, %d/s", p.Total, p.Rate)
		case "sub":
			line += fmt.Sprintf(", received %d, %d/s", p.Total, p.Rate)
		}
		fmt.Fprintln(o.IO.Out, line)
	}
	s, err := bench.RunLoad(ctx, l, progress)
	if s != nil {
		mu.Lock()
		writeLoadSummary(o, s)
		mu.Unlock()
	}
	if err != nil {
		return benchExit(l.Addr, err)
	}
	return nil
}

// writeLoadSummary prints what a run measured, also after a failure.
func writeLoadSummary(o *BenchLoadOptions, s *bench.LoadSummary) {
	if o.Output == "json" {
		b, _ := json.Marshal(map[string]any{"mode": s.Mode, "summary": true, "connected": s.Connected, "total": s.Total,
			"elapsed_s": s.Elapsed.Seconds(), "p50_us": s.P50.Microseconds(), "p90_us": s.P90.Microseconds(),
			"p99_us": s.P99.Microseconds(), "max_us": s.Max.Microseconds(), "rate_p50": s.RateP50, "rate_p90": s.RateP90,
			"rate_p99": s.RateP99, "rate_max": s.RateMax})
		fmt.Fprintf(o.IO.Out, "%s\n", b)
		return
	}
	fmt.Fprintf(o.IO.Out, "%s: %d connected in %v", s.Mode, s.Connected, s.Elapsed.Round(time.Millisecond))
	switch s.Mode {
	case "conn":
		fmt.Fprintf(o.IO.Out, "; connect time p50 %v p90 %v p99 %v max %v\n", roundDur(s.P50), roundDur(s.P90), roundDur(s.P99), roundDur(s.Max))
	case "pub":
		fmt.Fprintf(o.IO.Out, "; published %d; per second p50 %d p90 %d p99 %d max %d", s.Total, s.RateP50, s.RateP90, s.RateP99, s.RateMax)
		if s.Max > 0 {
			fmt.Fprintf(o.IO.Out, "; ack latency p50 %v p90 %v p99 %v max %v", roundDur(s.P50), roundDur(s.P90), roundDur(s.P99), roundDur(s.Max))
		}
		fmt.Fprintln(o.IO.Out)
	case "sub":
		fmt.Fprintf(o.IO.Out, "; received %d; per second p50 %d p90 %d p99 %d max %d\n", s.Total, s.RateP50, s.RateP90, s.RateP99, s.RateMax)
	}
}
