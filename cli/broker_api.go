package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/broker/restapi"
)

// BrokerAPIOptions are the flags of `mqttboard broker sessions|retained|logs`,
// thin clients of a running broker's REST API (`mqttboard broker --http`).
type BrokerAPIOptions struct {
	IO      *IOStreams
	HTTP    string // the API's address: host:port, a bare port (loopback) or an http(s):// URL
	Fields  string // fields= of sessions and retained
	Delete  bool   // DELETE what is selected instead of listing it
	Count   int    // logs: how many records (0: all the ring holds)
	Filter  string // logs: expression over the record's fields
	Reverse bool   // logs: newest first
	Timeout time.Duration
	// Token is sent as "Authorization: FlespiToken <Token>" (a broker
	// with --auth token); empty: $FLESPI_TOKEN, if set.
	Token string

	kind string // "sessions", "retained", "logs"
	arg  string // selector or topic filter
}

// newCmdBrokerAPI builds one of the API client subcommands of `broker`;
// runF replaces the run function in tests that only check flags.
func newCmdBrokerAPI(ios *IOStreams, kind string, runF func(context.Context, *BrokerAPIOptions) error) *cobra.Command {
	o := &BrokerAPIOptions{IO: ios, kind: kind}
	cmd := &cobra.Command{
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.HTTP == "" {
				return usageError(errors.New("--http: give the address of a broker started with --http, e.g. --http 127.0.0.1:9080"))
			}
			if len(args) > 0 {
				o.arg = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return brokerAPIRun(cmd.Context(), o)
		},
	}
	switch kind {
	case "sessions":
		cmd.Use = "sessions [SELECTOR]"
		cmd.Short = "List (or --delete) a running broker's sessions through its REST API"
		cmd.Long = `List the sessions of a broker started with --http, online and offline, one
JSON object per line; --delete disconnects and removes them instead.
SELECTOR is all (the default), a client id, id1,id2 or field=value
(client_id, connected, protocol, address, username, clean; * matches any
characters).`
		cmd.Example = "  mqttboard broker sessions --http 127.0.0.1:9080\n  mqttboard broker sessions connected=false --http 9080 --fields client_id,queued\n  mqttboard broker sessions sensor-1 --http 9080 --delete"
		cmd.Args = cobra.MaximumNArgs(1)
	case "retained":
		cmd.Use = "retained FILTER"
		cmd.Short = "List (or --delete) a running broker's retained messages through its REST API"
		cmd.Long = `List the retained messages under a topic filter of a broker started with
--http, one JSON object per line (payloads as text when UTF-8, else base64);
--delete deletes them instead. Wildcards, selectors (a,b) and $filter/ work.`
		cmd.Example = "  mqttboard broker retained '#' --http 9080\n  mqttboard broker retained 'sensors/+/temp' --http 9080 --delete"
		cmd.Args = cobra.ExactArgs(1)
	case "logs":
		cmd.Use = "logs"
		cmd.Short = "Read a running broker's log records through its REST API"
		cmd.Long = `Print the log records of a broker started with --http, oldest first, one
JSON object per line. --filter is an expression over the record's fields,
e.g. 'event_code==301 && client_id=="dev1"'. To follow new records as they
happen, subscribe instead: mqttboard sub -t 'flespi/log/mqtt/#'.`
		cmd.Example = "  mqttboard broker logs --http 9080 --count 20 --reverse\n  mqttboard broker logs --http 9080 --filter 'event_type==\"denied\"'"
		cmd.Args = cobra.NoArgs
	}
	f := cmd.Flags()
	f.StringVar(&o.HTTP, "http", "", "address of the broker's API: host:port, a bare port (127.0.0.1) or an http(s):// URL")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "how long to wait for the answer")
	f.StringVar(&o.Token, "token", "", "token `KEY` for a broker with --auth token (default $FLESPI_TOKEN)")
	switch kind {
	case "sessions", "retained":
		f.StringVar(&o.Fields, "fields", "", "comma-separated fields to print (see README)")
		f.BoolVar(&o.Delete, "delete", false, "delete what is selected instead of listing it")
	case "logs":
		f.IntVar(&o.Count, "count", 100, "how many records (0: every record the broker keeps)")
		f.StringVar(&o.Filter, "filter", "", "expression over the records' fields")
		f.BoolVar(&o.Reverse, "reverse", false, "newest first")
	}
	return cmd
}

// apiToken is the token for a broker's API: the flag's, else
// $FLESPI_TOKEN (profiles name it with password_env the same way).
func apiToken(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("FLESPI_TOKEN")
}

// apiBase turns --http into a base URL (the one reading the broker pane's
// --broker-http uses too).
func apiBase(a string) (string, error) {
	base, err := restapi.BaseURL(a)
	if err != nil {
		return "", usageError(fmt.Errorf("--http %w", err))
	}
	return base, nil
}

func brokerAPIRun(ctx context.Context, o *BrokerAPIOptions) error {
	base, err := apiBase(o.HTTP)
	if err != nil {
		return err
	}
	method, path := "GET", ""
	if o.Delete {
		method = "DELETE"
	}
	q := url.Values{}
	switch o.kind {
	case "sessions":
		sel := o.arg
		if sel == "" {
			sel = "all"
		}
		path = "/mqtt/sessions/" + url.PathEscape(sel)
	case "retained":
		path = "/mqtt/messages/" + url.PathEscape(o.arg)
	case "logs":
		if o.Count < 0 {
			return usageError(fmt.Errorf("--count %d: give 0 or more", o.Count))
		}
		d, _ := json.Marshal(map[string]any{"count": o.Count, "filter": o.Filter, "reverse": o.Reverse})
		q.Set("data", string(d))
		path = "/mqtt/logs"
	}
	if o.Fields != "" && !o.Delete {
		q.Set("fields", o.Fields)
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return usageError(err)
	}
	if tok := apiToken(o.Token); tok != "" {
		req.Header.Set("Authorization", "FlespiToken "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return withExit(ExitTimeout, fmt.Errorf("%s %s: no answer within %v", method, u, o.Timeout))
		}
		return withExit(ExitConnect, fmt.Errorf("%s %s: %w", method, u, err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<30))
	if err != nil {
		return withExit(ExitConnect, fmt.Errorf("%s %s: reading the answer: %w", method, u, err))
	}
	var out struct {
		Result []json.RawMessage `json:"result"`
		Errors []struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("%s %s: %d, not the broker's API (%v)", method, u, res.StatusCode, err)
	}
	if res.StatusCode >= 300 {
		reason := res.Status
		if len(out.Errors) > 0 {
			reason = out.Errors[0].Reason
		}
		err := fmt.Errorf("%s %s: %d: %s", method, u, res.StatusCode, reason)
		switch {
		case res.StatusCode == 400 || res.StatusCode == 413:
			return usageError(err)
		case res.StatusCode == 401 && req.Header.Get("Authorization") == "":
			return withExit(ExitRefused, fmt.Errorf("%w (the broker runs with --auth token: pass --token KEY or set FLESPI_TOKEN)", err))
		case res.StatusCode == 401 || res.StatusCode == 403:
			return withExit(ExitRefused, err)
		}
		return err
	}
	for _, r := range out.Result {
		o.IO.Out.Write(append(escapeC1(r), '\n'))
	}
	return nil
}

// escapeC1 writes DEL and every non-ASCII character common.Safe would
// escape (C1 controls, bidi overrides and isolates and other format
// characters, line and paragraph separators, private-use and unassigned
// code points), which JSON leaves raw, as \u escapes (a surrogate pair
// above the BMP), so nothing the broker holds can reorder or control the
// terminal (JSON already escapes the C0 controls). They can only occur
// inside JSON strings, so the result is the same JSON value.
func escapeC1(b []byte) []byte {
	s := string(b)
	if !strings.ContainsFunc(s, isC1) {
		return b
	}
	var sb strings.Builder
	for _, r := range s {
		if !isC1(r) {
			sb.WriteRune(r)
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			fmt.Fprintf(&sb, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&sb, `\u%04x`, r)
	}
	return []byte(sb.String())
}

// isC1 is what escapeC1 escapes: DEL, and the non-ASCII characters that
// are not graphic (common.Safe's classification).
func isC1(r rune) bool { return r == 0x7f || (r >= 0x80 && !unicode.IsGraphic(r)) }
