package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// TestNormalCommand runs `trafficgen normal` with its own server on a free
// port: the HTTP requests are answered, the closed ports refuse, nothing
// else fails, and the run stops at --count.
func TestNormalCommand(t *testing.T) {
	closed := closedPort(t)
	var stdout, stderr bytes.Buffer
	args := []string{"normal", "--serve", "0", "--ports", fmt.Sprint(closed), "--source", "127.0.0.2",
		"--count", "120", "--rate", "0", "--concurrency", "3", "--duration", "60s"}
	if code := Run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	m := regexp.MustCompile(`normal: (\d+) actions .*: (\d+) answered, (\d+) refused, (\d+) failed`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no summary on stderr:\n%s", stderr.String())
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(1) != 120 || n(2) == 0 || n(3) == 0 || n(4) != 0 {
		t.Errorf("summary %q: want exactly 120 actions, some answered, some refused, none failed", m[0])
	}
	if stdout.Len() != 0 {
		t.Errorf("normal wrote to stdout: %q", stdout.String())
	}
}
