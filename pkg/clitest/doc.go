// Package clitest runs a tool's command-line cases, written as data: the
// tool's testdata/cases.json lists each case's arguments, standard input
// and exit code; the expected stdout and stderr are golden files,
// testdata/golden/NAME.stdout and NAME.stderr, rewritten with -update.
//
// Every tool has the same layout: cmd/X/main.go over package cmd/X/cli,
// whose tests call Run with the tool's folder cmd/X. Paths in a case (its
// arguments and its stdin file) are relative to that folder, and the cases
// run there, so that messages show the paths as the case wrote them.
//
// # Contract
//
//   - A case runs in-process (the tool's Run with the stdin file, or
//     /dev/null) unless it says "fifo": then the test binary runs again as
//     the tool (Run recognises that and never returns), with a FIFO that
//     the test holds open as stdin: a blocking descriptor outside Go's
//     poller, as a shell hands over. The test writes the stdin file into
//     it, waits until the tool has read all of it and waits in read(0),
//     then sends "signal" (INT or TERM) or closes the FIFO. Every wait is
//     bounded (10 s); a tool that ignores the signal fails the case.
//   - "waiting" (with "fifo") also compares what stdout held at that moment
//     with golden NAME.waiting: what a filter streams before its input
//     ends.
//   - Cases run one after another; no case depends on another's output.
package clitest
