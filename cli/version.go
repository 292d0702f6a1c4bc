package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time by goreleaser:
//
//	-X github.com/mqttboard/mqttboard/cli.version=1.2.3 -X github.com/mqttboard/mqttboard/cli.commit=abc123
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns the version and commit, falling back to what the Go
// toolchain recorded (module version for `go install ...@v1.2.3`, VCS
// revision for a checkout build) when ldflags did not set them.
func buildInfo() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

func newCmdVersion(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, c := buildInfo()
			_, err := fmt.Fprintf(ios.Out, "mqttboard %s (commit %s, %s %s/%s)\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
