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
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(version, commit, bi)
}

// versionOf picks the version and commit to print: the link-time values
// (releases), else the module version Go recorded (`go install
// ...@v1.2.3`, or the pseudo-version Go 1.24+ derives from a checkout),
// else "dev"; the commit is the VCS revision Go recorded, with
// "-modified" when the tree had uncommitted changes. When Go recorded
// nothing (a build with -buildvcs=false, or outside a repository) it says
// so instead of a bare "unknown".
func versionOf(ldVersion, ldCommit string, bi *debug.BuildInfo) (v, c string) {
	v, c = ldVersion, ldCommit
	modified := false
	if bi != nil {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && c != "" && ldCommit == "" {
			c += "-modified"
		}
	}
	if c == "" {
		c = "unknown: built without VCS stamping (-buildvcs=false, or outside a git checkout)"
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
