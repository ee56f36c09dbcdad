// Package natstest runs a real NATS JetStream cluster for tests and
// benchmarks: nats-server processes (the module's tool dependency,
// github.com/nats-io/nats-server/v2, built once into a directory) listening
// on 127.0.0.1 only, joined by routes, each with its own store. Nodes are
// child processes, so that a test can kill one for real (SIGKILL) and start
// it again. Close stops them all and removes nothing else.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// Build compiles nats-server into dir (inside the module, so the version
// go.mod pins) and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
	}
	return bin, nil
}

// Cluster is a running cluster.
type Cluster struct {
	bin   string
	dir   string
	nodes []*node
}

type node struct {
	name         string
	client, rout int
	args         []string
	mu           sync.Mutex
	cmd          *exec.Cmd
	done         chan struct{}
}

// Start runs n nodes of bin with their stores and logs under dir, and
// returns once JetStream answers on every node (a meta leader is elected).
func Start(ctx context.Context, bin, dir string, n int) (*Cluster, error) {
	c := &Cluster{bin: bin, dir: dir}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range n {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[2*i+1]))
	}
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i+1), client: ports[2*i], rout: ports[2*i+1]}
		nd.args = []string{"--server_name", nd.name, "-a", "127.0.0.1", "-p", strconv.Itoa(nd.client),
			"-js", "-sd", filepath.Join(dir, nd.name), "-l", filepath.Join(dir, nd.name+".log")}
		if n > 1 {
			nd.args = append(nd.args, "--cluster_name", "scanwatch", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		}
		c.nodes = append(c.nodes, nd)
	}
	for i := range c.nodes {
		if err := c.Restart(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.waitReady(ctx, 60*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// URL lists every node's client URL, comma-separated, as natsbus.Dial and
// the tools' --publish / --subscribe take it.
func (c *Cluster) URL() string {
	var u []string
	for _, nd := range c.nodes {
		u = append(u, nd.url())
	}
	return strings.Join(u, ",")
}

// NodeURL is node i's client URL.
func (c *Cluster) NodeURL(i int) string { return c.nodes[i].url() }

func (nd *node) url() string { return "nats://127.0.0.1:" + strconv.Itoa(nd.client) }

// Kill kills node i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	if cmd == nil {
		return errors.New("node not running")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return nil
}

// Restart starts node i (again), with its store as it was.
func (c *Cluster) Restart(i int) error {
	nd := c.nodes[i]
	cmd := exec.Command(c.bin, nd.args...)
	out, err := os.OpenFile(filepath.Join(c.dir, nd.name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", nd.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()
	return nil
}

// WaitNode waits until node i accepts clients and answers JetStream.
func (c *Cluster) WaitNode(ctx context.Context, i int, limit time.Duration) error {
	return waitJS(ctx, c.nodes[i].url(), limit)
}

func (c *Cluster) waitReady(ctx context.Context, limit time.Duration) error {
	for i := range c.nodes {
		if err := c.WaitNode(ctx, i, limit); err != nil {
			return fmt.Errorf("%s: %w (log %s)", c.nodes[i].name, err, filepath.Join(c.dir, c.nodes[i].name+".log"))
		}
	}
	return nil
}

func waitJS(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			// $JS.API.INFO answers once the meta group has a leader.
			_, err = nc.Request("$JS.API.INFO", nil, time.Second)
			nc.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("JetStream not ready after %s: %v", limit, last)
}

// Close stops every node (SIGTERM, then SIGKILL after 5 s).
func (c *Cluster) Close() {
	for _, nd := range c.nodes {
		nd.mu.Lock()
		cmd, done := nd.cmd, nd.done
		nd.mu.Unlock()
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// freePorts finds n free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// BuildAndStart builds nats-server into dir and starts n nodes, their
// stores and logs under dir/nats.
func BuildAndStart(ctx context.Context, dir string, n int) (*Cluster, error) {
	bin, err := Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	store := filepath.Join(dir, "nats")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	return Start(ctx, bin, store, n)
}
