// Package cliutil holds what every scanwatch command shares: kong parsing
// that never calls os.Exit, errors that carry their exit code, the one-time
// "tool: " prefix, signal handling, inputs that a signal can end, and
// terminal detection.
//
// # Contract
//
//   - Exit codes: 0 success, 1 bad input or I/O failure (ExitError or any
//     other error), 2 usage (Usage, Usagef and kong's own errors). Report
//     prints an error once, as "tool: message", and turns a closed
//     downstream pipe into a quiet 0.
//   - SignalContext is cancelled on SIGINT and SIGTERM and ignores
//     SIGPIPE. A tool reads its input through Input(ctx, r): once ctx is
//     done, a read, even one waiting on an idle terminal or FIFO, returns
//     ErrInterrupted, which the tool takes as the end of its input: every
//     complete row read before it is written, and the exit code is 0.
//   - Version is the build's version; Commit and BuildDate its commit and
//     date (the justfile sets all three with -ldflags; a plain go build
//     takes them from the module's build information when it has them).
package cliutil
