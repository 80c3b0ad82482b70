package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is the module version the binary was built from, or
// "devel" for a local build.
func buildVersion() string {
	return describeBuild(debug.ReadBuildInfo()).Version
}

// buildDescription is what `ciba-check version` says of a binary.
type buildDescription struct {
	// Version is the main module's version: a tag (v1.2.0) for `go
	// install ...@version`, a pseudo-version or "devel" for a local build.
	Version string
	// Revision is the VCS commit the binary was built from, empty when the
	// build was not stamped (go install from the module proxy, -buildvcs=false).
	Revision string
	// Modified says the work tree had uncommitted changes.
	Modified bool
	// Time is the commit's time (RFC 3339), empty when unknown.
	Time string
}

// describeBuild reads the module version and VCS stamp from build info.
func describeBuild(info *debug.BuildInfo, ok bool) buildDescription {
	d := buildDescription{Version: "devel"}
	if !ok || info == nil {
		return d
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		d.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			d.Revision = s.Value
		case "vcs.modified":
			d.Modified = s.Value == "true"
		case "vcs.time":
			d.Time = s.Value
		}
	}
	return d
}

// String is the version line: "ciba-check VERSION (revision REV[,
// modified] TIME) GO OS/ARCH".
func (d buildDescription) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ciba-check %s", d.Version)
	if d.Revision != "" {
		fmt.Fprintf(&b, " (revision %s", d.Revision)
		if d.Modified {
			b.WriteString(", modified")
		}
		if d.Time != "" {
			fmt.Fprintf(&b, ", %s", d.Time)
		}
		b.WriteString(")")
	} else {
		b.WriteString(" (no VCS revision stamped)")
	}
	fmt.Fprintf(&b, " %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// VersionOptions are the inputs of `ciba-check version`.
type VersionOptions struct {
	IO      *IOStreams
	Version string
	// BuildInfo reads the binary's build info; nil means debug.ReadBuildInfo.
	BuildInfo func() (*debug.BuildInfo, bool)
}

// NewCmdVersion builds `ciba-check version`.
func NewCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO, Version: f.Version}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ciba-check version and the VCS revision it was built from",
		Long: `Print the module version ciba-check was built from (a tag for go install
...@vX.Y.Z, a pseudo-version or "devel" for a build from a clone), the VCS
revision and whether the work tree was modified (when the build was stamped
with them), the Go version and the platform.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
}

func runVersion(opts *VersionOptions) error {
	read := opts.BuildInfo
	if read == nil {
		read = debug.ReadBuildInfo
	}
	_, err := fmt.Fprintln(opts.IO.Out, describeBuild(read()).String())
	return err
}
