// Package cli is mqttboard's command line: the cobra commands, their flags,
// the mapping of errors to exit codes, and the output writers.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mqttboard/mqttboard/tui/common"
)

// Main runs mqttboard with the process's arguments and streams and returns
// the exit code. SIGINT and SIGTERM cancel the command's context, so commands
// disconnect cleanly instead of dying mid-packet.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, SystemIOStreams(), os.Args[1:])
}

// Run runs mqttboard with args and returns the exit code; errors are printed
// to ios.ErrOut.
func Run(ctx context.Context, ios *IOStreams, args []string) int {
	root := NewCmdRoot(ios)
	// Cobra reports bad arguments and unknown commands as plain errors
	// before any command runs; started tells those apart from run failures.
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(mqttxShorthands(args))
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if code == ExitError && !started {
		code = ExitUsage
	}
	quiet := false
	if cmd != nil {
		if f := cmd.Flags().Lookup("quiet"); f != nil {
			quiet = f.Value.String() == "true"
		}
	}
	if code != ExitInterrupted && !quiet {
		fmt.Fprintf(ios.ErrOut, "mqttboard: %s\n", terminalSafe(err.Error()))
		if code == ExitUsage && cmd != nil {
			fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return code
}

// NewCmdRoot builds the root command and all its subcommands.
func NewCmdRoot(ios *IOStreams) *cobra.Command {
	boardOpts := &BoardOptions{IO: ios}
	root := &cobra.Command{
		Use:   "mqttboard",
		Short: "A terminal MQTT 5 client, debugging board and bundled broker",
		Long: `mqttboard is a terminal MQTT 3.1/3.1.1/5.0 client and debugging tool with a
bundled, complete MQTT broker that behaves like the flespi broker.

Run it without arguments to open the board. Use pub and sub in scripts in place
of mosquitto_pub and mosquitto_sub.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return boardRun(cmd.Context(), boardOpts)
		},
	}
	addBoardFlags(root, boardOpts)
	// -h is --host on the commands that connect (the mosquitto and MQTTX
	// habit), so help is --help only.
	root.PersistentFlags().Bool("help", false, "show help for a command")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.SetGlobalNormalizationFunc(mqttxAliases)
	root.AddCommand(newCmdVersion(ios))
	root.AddCommand(NewCmdBroker(ios, nil))
	root.AddCommand(NewCmdPub(ios, nil))
	root.AddCommand(NewCmdSub(ios, nil))
	root.AddCommand(NewCmdConn(ios, nil))
	root.AddCommand(NewCmdRR(ios, nil))
	root.AddCommand(NewCmdRetained(ios, nil))
	root.AddCommand(NewCmdBench(ios, nil))
	root.AddCommand(NewCmdProfile(ios, nil))
	return root
}

// mqttxLongAliases are MQTTX CLI's spellings of flags that mqttboard
// names otherwise; pflag maps them when parsing, so both work.
var mqttxLongAliases = map[string]string{
	"hostname":                "host",
	"client-id":               "id",
	"path":                    "ws-path",
	"session-expiry-interval": "session-expiry",
	"will-message":            "will-payload",
	"no_local":                "no-local",
	"retain_handling":         "retain-handling",
	"retain_as_published":     "retain-as-published",
	"subscription-identifier": "subscription-id",
	"user-properties":         "user-property",
}

func mqttxAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if to, ok := mqttxLongAliases[name]; ok {
		return pflag.NormalizedName(to)
	}
	return pflag.NormalizedName(name)
}

// mqttxShorthands rewrites MQTTX's multi-letter short flags, which pflag
// would read as bundled single letters (-nl as -n -l).
func mqttxShorthands(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch a {
		case "-nl":
			a = "--no-local"
		case "-rh":
			a = "--retain-handling"
		case "-rap":
			a = "--retain-as-published"
		case "-si":
			a = "--subscription-id"
		case "-up":
			a = "--user-property"
		case "-im":
			a = "--message-interval"
		case "--":
			copy(out[i:], args[i:])
			return out
		}
		out[i] = a
	}
	return out
}

// terminalSafe escapes what a message may carry from the network (a
// broker's reason string, a topic) before it reaches a terminal: every
// control character, C1 code and bidi override shows visibly, through the
// board's one escaper ([common.Safe]); line breaks stay, so multi-line
// messages read as before.
func terminalSafe(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = common.Safe(l)
	}
	return strings.Join(lines, "\n")
}
