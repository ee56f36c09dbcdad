package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// needRootTools skips a test that sends raw packets and captures on lo.
func needRootTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: raw nmap scans and capture on lo (run the tests as root, as CI does)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: sudo apt-get install %s", tool, tool)
		}
	}
}

// needTools skips a test whose tools are missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: sudo apt-get install %s", tool, tool)
		}
	}
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

// tcpPacket is what the tests look at in a captured packet.
type tcpPacket struct {
	Src, Dst         netip.AddrPort
	Flags            string // "S", "RA", "FPU", "" ...
	Window           uint16
	HasMSSOptionOnly bool
}

func flagString(tcp *layers.TCP) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{tcp.FIN, 'F'}, {tcp.SYN, 'S'}, {tcp.RST, 'R'}, {tcp.PSH, 'P'}, {tcp.ACK, 'A'}, {tcp.URG, 'U'}} {
		if f.on {
			b.WriteByte(f.c)
		}
	}
	return b.String()
}

// capture is a running tcpdump whose packets are decoded as they arrive, so
// the test can wait for a marker packet instead of sleeping.
type capture struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	packets []tcpPacket
	marker  func(tcpPacket) bool
	sawMark chan struct{}
	done    chan error
	errDone chan struct{}
	errText bytes.Buffer // tcpdump's stderr, read until it exits
}

// startCapture runs tcpdump -i lo -U -w - FILTER and returns once tcpdump
// says it is listening.
func startCapture(t *testing.T, filter string, marker func(tcpPacket) bool) *capture {
	t.Helper()
	c := &capture{marker: marker, sawMark: make(chan struct{}), done: make(chan error, 1), errDone: make(chan struct{})}
	// A 16 MiB buffer: with the default 2 MiB tcpdump lost packets of
	// 22-packet bursts while both cores were busy.
	c.cmd = exec.Command("tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "16384", "-w", "-", filter)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		defer close(c.errDone)
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			c.errText.WriteString(sc.Text() + "\n")
			if !said && strings.Contains(sc.Text(), "listening on") {
				said = true
				listening <- sc.Text()
			}
		}
		if !said {
			close(listening)
		}
	}()
	go func() { c.done <- c.read(stdout) }()
	if _, ok := <-listening; !ok {
		<-c.errDone
		c.cmd.Wait()
		t.Fatalf("tcpdump did not start: %s", c.errText.String())
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	return c
}

func (c *capture) read(r io.Reader) error {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return err
	}
	marked := false
	for {
		data, _, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := gopacket.NewPacket(data, pr.LinkType(), gopacket.Default)
		ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip4 == nil || tcp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip4.SrcIP)
		dst, _ := netip.AddrFromSlice(ip4.DstIP)
		tp := tcpPacket{
			Src: netip.AddrPortFrom(src, uint16(tcp.SrcPort)), Dst: netip.AddrPortFrom(dst, uint16(tcp.DstPort)),
			Flags: flagString(tcp), Window: tcp.Window,
			HasMSSOptionOnly: len(tcp.Options) == 1 && tcp.Options[0].OptionType == layers.TCPOptionKindMSS,
		}
		c.mu.Lock()
		c.packets = append(c.packets, tp)
		c.mu.Unlock()
		if !marked && c.marker != nil && c.marker(tp) {
			marked = true
			close(c.sawMark)
		}
	}
}

// stop waits for the marker packet (everything sent before it has been
// captured), then stops tcpdump and returns the packets.
func (c *capture) stop(t *testing.T, timeout time.Duration) []tcpPacket {
	t.Helper()
	select {
	case <-c.sawMark:
	case <-time.After(timeout):
		t.Errorf("tcpdump never saw the end-marker packet within %s", timeout)
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	if err := <-c.done; err != nil {
		t.Errorf("reading tcpdump's output: %v", err)
	}
	<-c.errDone
	c.cmd.Wait()
	if m := dropped.FindStringSubmatch(c.errText.String()); m == nil {
		t.Errorf("tcpdump printed no drop count:\n%s", c.errText.String())
	} else if n, _ := strconv.Atoi(m[1]); n > 0 {
		t.Errorf("tcpdump: %d packets dropped by the kernel: the capture is incomplete (machine overloaded?)", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tcpPacket(nil), c.packets...)
}

var dropped = regexp.MustCompile(`(\d+) packets? dropped by kernel`)

// sendMarker connects from src to a closed port on dst: its RST reply is
// the end marker of a capture.
func sendMarker(t *testing.T, src, dst netip.Addr, port uint16) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 2 * time.Second}
	conn, err := d.DialContext(context.Background(), "tcp", netip.AddrPortFrom(dst, port).String())
	if err == nil {
		conn.Close()
		t.Fatalf("marker port %d is open", port)
	}
}

// closedPort returns a port nothing listens on (just released).
func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}
