package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

// harvesterTrain holds a sample of the predecessor's (nmap-harvester's)
// training set in its own format: 634 scan rows, 601 normal ones.
const harvesterTrain = "../../testdata/harvester/"

func harvesterInputs(t testing.TB) []Input {
	t.Helper()
	in, err := FileInputs([]string{harvesterTrain + "bad.csv", harvesterTrain + "good.csv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func mergeLines(t *testing.T, in []Input, opt Options) []string {
	t.Helper()
	var b bytes.Buffer
	if opt.Format == "" {
		opt.Format = "csv"
	}
	if _, err := Merge(context.Background(), in, &b, opt); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func TestHarvesterMergeShuffleBalance(t *testing.T) {
	in := harvesterInputs(t)
	opt := Options{Require: HarvesterRequire(), Seed: 1}
	plain := mergeLines(t, in, opt)
	if len(plain) != 1+1235 {
		t.Fatalf("merged %d lines, want header + 1235", len(plain))
	}
	opt.Shuffle = true
	shuf := mergeLines(t, in, opt)
	if slices.Equal(plain, shuf) || plain[0] != shuf[0] {
		t.Fatal("shuffle kept the order or lost the header")
	}
	a, b := slices.Clone(plain[1:]), slices.Clone(shuf[1:])
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatal("shuffled rows are not a permutation of the merged rows")
	}
	if again := mergeLines(t, in, opt); !slices.Equal(again, shuf) {
		t.Fatal("same seed, different shuffle")
	}

	bal := Options{Require: HarvesterRequire(), Seed: 5, Balance: true}
	var b1 bytes.Buffer
	st, err := Merge(context.Background(), in, &b1, Options{Require: bal.Require, Seed: 5, Balance: true, Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	if st.PerClass[0] != 601 || st.PerClass[1] != 601 || st.In != 1235 || st.Out != 1202 {
		t.Fatalf("balance stats %+v", st)
	}
	got := mergeLines(t, in, bal)
	bal.Seed = 6
	other := mergeLines(t, in, bal)
	if slices.Equal(got, other) {
		t.Error("different seeds kept the same rows")
	}
	// Every kept row is one of the input rows, in input order.
	j := 1
	for _, l := range got[1:] {
		for j < len(plain) && plain[j] != l {
			j++
		}
		if j == len(plain) {
			t.Fatal("balanced output is not a subsequence of the input")
		}
		j++
	}
}

// Rows written before an error stay written; the error names file and line.
func TestErrorKeepsWrittenRows(t *testing.T) {
	good := "SYN,label\n1,0\n2,1\n"
	bad := "SYN,label\n3,1\nx,0\n"
	in := []Input{
		{Name: "a.csv", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(good)), nil }},
		{Name: "b.csv", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(bad)), nil }},
	}
	var out bytes.Buffer
	st, err := Merge(context.Background(), in, &out, Options{Require: []string{"SYN", "label"}, Format: "csv"})
	if err == nil || err.Error() != `read b.csv line 3: column SYN: "x" is not an integer` {
		t.Fatalf("err = %v", err)
	}
	if out.String() != "SYN,label\n1,0\n2,1\n3,1\n" || st.Out != 3 {
		t.Errorf("written %q (%d rows)", out.String(), st.Out)
	}
}

// Across many read batches: every row before the bad one is written, in
// order, then the error.
func TestErrorAfterManyRows(t *testing.T) {
	var in strings.Builder
	in.WriteString("SYN,label\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&in, "%d,1\n", i)
	}
	in.WriteString("-3,1\n")
	src := in.String()
	inputs := []Input{{Name: "many.csv", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(src)), nil }}}
	var out bytes.Buffer
	st, err := Merge(context.Background(), inputs, &out, Options{Format: "csv"})
	if err == nil || !strings.Contains(err.Error(), "many.csv line 1002") {
		t.Fatalf("err = %v", err)
	}
	if st.Out != 1000 || out.String() != src[:strings.Index(src, "-3")] {
		t.Errorf("wrote %d rows", st.Out)
	}
}

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A failing output stops the merge (and its reading goroutine) at once.
func TestWriteErrorStopsReading(t *testing.T) {
	in := harvesterInputs(t)
	_, err := Merge(context.Background(), in, &failAfter{n: 100 << 10}, Options{Format: "csv"})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

func TestSamplerKeepsExactlyTheSmallestCount(t *testing.T) {
	counts := map[int]int{0: 10, 1: 1000, 2: 37}
	keep := newSampler(counts, 3)
	kept := map[int]int{}
	for label, n := range counts {
		for i := 0; i < n; i++ {
			if keep(label) {
				kept[label]++
			}
		}
	}
	for label := range counts {
		if kept[label] != 10 {
			t.Errorf("class %d kept %d, want 10", label, kept[label])
		}
	}
}

// BenchmarkMerge measures csvmerge's throughput on ~1 M rows: the
// predecessor's sample repeated to 0.5 M rows in one CSV file, merged with itself (2
// files, ~1 M rows), streaming, balanced (two passes) and shuffled.
func BenchmarkMerge(b *testing.B) {
	in := harvesterInputs(b)
	var seed bytes.Buffer
	if _, err := Merge(context.Background(), in, &seed, Options{Format: "csv"}); err != nil {
		b.Fatal(err)
	}
	lines := strings.SplitAfter(seed.String(), "\n")
	header, body := lines[0], strings.Join(lines[1:], "")
	nSeed := len(lines) - 2 // last split is empty
	const target = 1_000_000
	reps := target / nSeed / 2
	path := b.TempDir() + "/big.csv"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	f.WriteString(header)
	for i := 0; i < reps; i++ {
		f.WriteString(body)
	}
	f.Close()
	rows := 2 * reps * nSeed
	files, _ := FileInputs([]string{path, path}, nil)
	for _, mode := range []struct {
		name string
		opt  Options
	}{
		{"stream", Options{Require: HarvesterRequire(), Format: "csv"}},
		{"balance", Options{Require: HarvesterRequire(), Format: "csv", Balance: true}},
		{"shuffle", Options{Require: HarvesterRequire(), Format: "csv", Shuffle: true}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				st, err := Merge(context.Background(), files, io.Discard, mode.opt)
				if err != nil || st.In != rows {
					b.Fatalf("%v, %d rows", err, st.In)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
