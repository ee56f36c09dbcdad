package cliutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/term"
)

// The build's version, commit and date, set by the justfile's -ldflags
// ("-X scanwatch/pkg/cliutil.Version=..."); VersionText falls back on the
// module's build information for a plain go build.
var (
	Version   = "dev"
	Commit    = ""
	BuildDate = ""
)

// VersionText is what --version prints: "tool VERSION (commit C, built D)".
// A go build inside a git checkout records the commit and its time (not
// the build's): then the date is said to be the commit's.
func VersionText(tool string) string {
	commit, date := Commit, BuildDate
	dateWord := "built"
	if info, ok := debug.ReadBuildInfo(); ok && commit == "" {
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				if date == "" {
					date, dateWord = s.Value, "committed"
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if commit != "" && modified {
			commit += "+changes"
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date, dateWord = "unknown", "built"
	}
	return fmt.Sprintf("%s %s (commit %s, %s %s)", tool, Version, commit, dateWord, date)
}

// Exit codes shared by all tools.
const (
	ExitOK      = 0
	ExitFailure = 1 // bad input, I/O failure
	ExitUsage   = 2 // bad flags or arguments
)

// ExitError is an error with the process exit code it implies.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usage wraps err as a usage error (exit 2).
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Usagef is Usage(fmt.Errorf(...)).
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// Report prints err once as "tool: message" on stderr and returns its exit
// code; nil is 0. A closed downstream pipe is not an error: the reader is gone
// and nobody wants to hear about it.
func Report(tool string, stderr io.Writer, err error) int {
	if err == nil || IsBrokenPipe(err) {
		return ExitOK
	}
	code := ExitFailure
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", tool, err)
	return code
}

// IsBrokenPipe reports a write to a closed pipe.
func IsBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}

type kongExit struct{ code int }

// Parse parses args into cli with kong, writing help to stdout and errors to
// stderr, without ever calling os.Exit. done is true when the caller should
// return code at once (help, version, or a usage error already printed).
func Parse(tool, description string, cli any, args []string, stdout, stderr io.Writer, opts ...kong.Option) (kctx *kong.Context, code int, done bool) {
	exited := -1
	options := append([]kong.Option{
		kong.Name(tool),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(kongExit{c}) }),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": VersionText(tool)},
	}, opts...)
	parser, err := kong.New(cli, options...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", tool, err)
		return nil, ExitFailure, true
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				ke, ok := r.(kongExit)
				if !ok {
					panic(r)
				}
				exited = ke.code
			}
		}()
		kctx, err = parser.Parse(args)
	}()
	if exited >= 0 {
		return nil, exited, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", tool, err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", tool)
		return nil, ExitUsage, true
	}
	return kctx, ExitOK, false
}

// Run is a tool's main in one call: Parse args into cli, then run (given
// the subcommand, for tools that have them) under SignalContext, then
// Report its error.
func Run(ctx context.Context, tool, description string, cli any, args []string, stdout, stderr io.Writer,
	run func(ctx context.Context, command string) error) int {
	kctx, code, done := Parse(tool, description, cli, args, stdout, stderr)
	if done {
		return code
	}
	ctx, stop := SignalContext(ctx)
	defer stop()
	return Report(tool, stderr, run(ctx, kctx.Command()))
}

// VersionFlag is embedded in every tool's CLI struct.
type VersionFlag struct {
	Version kong.VersionFlag `help:"Print the version and exit."`
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// SignalContext is cancelled on SIGINT or SIGTERM. It also ignores
// SIGPIPE, so that a write to a closed stdout returns EPIPE (which Report
// turns into a quiet exit 0) instead of killing the process mid-row.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// LockedWriter serialises writes to w, for the stderr copiers of several
// child processes and the goroutines that log beside them.
func LockedWriter(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
