package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui"
)

// BoardOptions are the root command's flags: the board to open.
type BoardOptions struct {
	IO    *IOStreams
	Board string
	// BrokerHTTP points the broker pane (B) at a running broker's REST API
	// (`mqttboard broker --http`): host:port, a bare port or a URL.
	BrokerHTTP string
	// BrokerToken is its token (--auth token); empty: $FLESPI_TOKEN.
	BrokerToken string
	// ProfilesPath overrides the profiles file (tests); "" is the default.
	ProfilesPath string
	// BrokerData keeps the bundled broker's persistent sessions and
	// retained messages in this directory (as `mqttboard broker --data`);
	// "" keeps them in memory, as before.
	BrokerData string
	// BrokerNodes runs the bundled broker as an in-process cluster of
	// this many nodes (--broker-nodes; 1: one broker).
	BrokerNodes int
}

// addBoardFlags registers the root command's board flags.
func addBoardFlags(root *cobra.Command, o *BoardOptions) {
	root.Flags().StringVar(&o.Board, "board", "", "open the board saved under `NAME` in the profiles file")
	root.Flags().StringVar(&o.BrokerToken, "broker-token", "", "token `KEY` for the API of --broker-http when that broker runs with --auth token (default $FLESPI_TOKEN)")
	root.Flags().StringVar(&o.BrokerData, "broker-data", "", "keep the bundled broker's persistent sessions and retained messages in `DIR` across runs (as mqttboard broker --data; default: in memory)")
	root.Flags().IntVar(&o.BrokerNodes, "broker-nodes", 1, "run the bundled broker as an in-process cluster of `N` nodes on loopback (1 to 9; local connections are spread over the nodes, the broker pane (B) shows each session's node)")
	root.Flags().StringVar(&o.BrokerHTTP, "broker-http", "", "show the broker at this REST API address (`ADDR` of `mqttboard broker --http`: host:port, a port or a URL) in the broker pane (B), and connect to it (the MQTT listener its /healthz reports) instead of starting the bundled broker")
}

// boardRun opens the board: the one named by --board, or, with none, a new
// one connected to the bundled broker started in-process.
func boardRun(ctx context.Context, o *BoardOptions) error {
	path := o.ProfilesPath
	if path == "" {
		p, err := profiles.DefaultPath()
		if err != nil && o.Board != "" {
			return err
		}
		path = p
	}
	f, err := profiles.Load(path)
	if err != nil {
		return err
	}
	opts, err := boardOptions(o, f, path)
	if err != nil {
		return err
	}
	if o.BrokerNodes < 1 || o.BrokerNodes > 9 {
		return usageError(fmt.Errorf("--broker-nodes %d: give 1 to 9", o.BrokerNodes))
	}
	if o.BrokerNodes > 1 && o.BrokerData != "" {
		return usageError(errors.New("--broker-nodes runs the local cluster in memory: it does not go with --broker-data"))
	}
	opts.BrokerNodes = o.BrokerNodes
	if o.BrokerData != "" {
		// Opened before the board: a directory another broker uses is an
		// error on the command line, not a failure inside the board.
		st, err := storage.Open(o.BrokerData, storage.Options{})
		if err != nil {
			return withExit(ExitError, fmt.Errorf("--broker-data %s: %w", o.BrokerData, err))
		}
		defer st.Close() // the broker closes it when it ran; safe twice
		opts.BrokerOptions.Store = st
	}
	m := tui.New(opts)
	defer m.Close()
	// The renderer's own ticker (60 Hz by default) wakes the process even
	// when nothing changed; the board never produces frames faster than
	// tui.FrameInterval, so a faster ticker only costs idle CPU.
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx), tea.WithFPS(int(time.Second / tui.FrameInterval))}
	if in, ok := o.IO.In.(*os.File); ok {
		popts = append(popts, tea.WithInput(in))
	}
	if out, ok := o.IO.Out.(*os.File); ok {
		popts = append(popts, tea.WithOutput(out))
	}
	_, err = tea.NewProgram(m, popts...).Run()
	if err == tea.ErrProgramKilled && ctx.Err() != nil {
		return nil
	}
	return err
}

// boardOptions are the board's options from the flags and the profiles
// file f (read from path): the saved board --board names, and the broker
// pane's API, --broker-http or else the one the board was saved with.
func boardOptions(o *BoardOptions, f *profiles.File, path string) (tui.Options, error) {
	opts := tui.Options{Profiles: f.Profiles, ProfilesPath: path}
	apiAddr, flag := o.BrokerHTTP, "--broker-http"
	if o.Board != "" {
		b, ok := f.Board(o.Board)
		if !ok {
			names := strings.Join(f.BoardNames(), ", ")
			if names == "" {
				names = "none; save one with ctrl+b in the board"
			}
			return opts, usageError(fmt.Errorf("no board %q in %s (saved boards: %s)", o.Board, path, names))
		}
		opts.Board = b
		if apiAddr == "" && b.BrokerHTTP != "" {
			apiAddr, flag = b.BrokerHTTP, fmt.Sprintf("board %q: broker_http", o.Board)
		}
	}
	if apiAddr != "" {
		base, err := restapi.BaseURL(apiAddr)
		if err != nil {
			return opts, usageError(fmt.Errorf("%s %w", flag, err))
		}
		opts.BrokerAPI = &restapi.Client{Base: base, Token: apiToken(o.BrokerToken)}
		if opts.Board == nil {
			opts.Connect, opts.Notice = watchedBroker(opts.BrokerAPI)
		}
	}
	return opts, nil
}

// watchedBroker is the connection the board makes, instead of starting the
// bundled broker, when it watches a broker through its API (--broker-http
// without --board): the first plain MQTT listener its /healthz reports,
// else its first WebSocket one, with the API's token as the MQTT user name
// (a broker with --auth token takes it so). Without one (the broker is
// down, or older and does not report its listeners) the board starts the
// bundled broker as before, and notice says why.
func watchedBroker(api *restapi.Client) (*profiles.Profile, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h, err := api.Health(ctx)
	if err != nil {
		return nil, fmt.Sprintf("the broker at %s did not answer (%v): connected to the bundled broker instead", api.Base, err)
	}
	u := pickListener(h.Listeners, api.Base)
	if u == "" {
		return nil, fmt.Sprintf("the broker at %s reports no mqtt:// or ws:// listener: connected to the bundled broker instead", api.Base)
	}
	return &profiles.Profile{Name: "broker", URL: u, Username: api.Token}, ""
}

// pickListener is the URL to connect to among a broker's listener URLs:
// the first mqtt://, else the first ws:// (TLS ones need certificates the
// board was not given). A listener on every interface (0.0.0.0, [::]) is
// reached at the API's host. "" when there is none.
func pickListener(urls []string, apiBase string) string {
	for _, scheme := range []string{"mqtt", "ws"} {
		for _, s := range urls {
			u, err := url.Parse(s)
			if err != nil || u.Scheme != scheme {
				continue
			}
			if ip := net.ParseIP(u.Hostname()); u.Hostname() == "" || ip != nil && ip.IsUnspecified() {
				api, err := url.Parse(apiBase)
				if err != nil {
					continue
				}
				u.Host = net.JoinHostPort(api.Hostname(), u.Port())
			}
			return u.String()
		}
	}
	return ""
}
