package trees

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"scanwatch/pkg/learn"
)

// Exported models: GBDT is written as LightGBM writes a binary gbdt model
// (objective=binary sigmoid:1; the score is sigmoid of the sum of the trees,
// the initial log-odds folded into tree 0). RandomForest and DecisionTree
// are written as LightGBM writes a binary rf model: the header carries
// average_output and the leaf values are probabilities, so the score is the
// plain mean of the trees, with no sigmoid. LightGBM and leaves (which skips
// the transformation for average_output models) both read it that way, so a
// reader that lets leaves pick the transformation gets the right
// probability for either kind.

// WriteLightGBM implements learn.Exporter.
func (m *GBDT) WriteLightGBM(w io.Writer) error {
	if len(m.trees) == 0 {
		return fmt.Errorf("trees: GBDT is not fitted")
	}
	params := []string{
		"boosting: gbdt", "objective: binary",
		"num_iterations: " + strconv.Itoa(m.Trees),
		"learning_rate: " + fmtFloat(m.LearningRate),
		"num_leaves: " + strconv.Itoa(m.NumLeaves),
		"max_depth: " + strconv.Itoa(m.MaxDepth),
		"min_data_in_leaf: " + strconv.Itoa(m.MinLeaf),
		"min_sum_hessian_in_leaf: " + fmtFloat(m.MinChildWeight),
		"lambda_l2: " + fmtFloat(m.Lambda),
		"min_gain_to_split: " + fmtFloat(m.MinGain),
		"seed: " + strconv.FormatInt(m.Seed, 10),
		"max_bin: " + strconv.Itoa(MaxBins),
	}
	return writeLightGBM(w, m.features, m.infos, m.trees, false, m.LearningRate, params)
}

// WriteLightGBM implements learn.Exporter (as an average_output model).
func (m *RandomForest) WriteLightGBM(w io.Writer) error {
	if len(m.trees) == 0 {
		return fmt.Errorf("trees: RandomForest is not fitted")
	}
	params := []string{
		"boosting: rf", "objective: binary",
		"num_iterations: " + strconv.Itoa(m.Trees),
		"max_depth: " + strconv.Itoa(m.MaxDepth),
		"min_data_in_leaf: " + strconv.Itoa(m.MinLeaf),
		"bagging_fraction: 1", "bagging_freq: 1",
		"seed: " + strconv.FormatInt(m.Seed, 10),
		"max_bin: " + strconv.Itoa(MaxBins),
	}
	return writeLightGBM(w, m.features, m.infos, m.trees, true, 1, params)
}

// WriteLightGBM implements learn.Exporter (as a one-tree average_output model).
func (m *DecisionTree) WriteLightGBM(w io.Writer) error {
	if m.tree == nil {
		return fmt.Errorf("trees: DecisionTree is not fitted")
	}
	params := []string{
		"boosting: rf", "objective: binary", "num_iterations: 1",
		"max_depth: " + strconv.Itoa(m.MaxDepth),
		"min_data_in_leaf: " + strconv.Itoa(m.MinLeaf),
		"max_bin: " + strconv.Itoa(MaxBins),
	}
	return writeLightGBM(w, m.features, m.infos, []*Tree{m.tree}, true, 1, params)
}

// fmtFloat writes the shortest text that parses back to exactly v.
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func joinFloats(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmtFloat(v)
	}
	return strings.Join(s, " ")
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, " ")
}

// decisionNumerical is LightGBM's decision_type for "x <= threshold" with
// default_left set and missing type None (bits: 0 categorical, 1 default
// left, 2-3 missing type), which is what LightGBM writes for features
// without missing values; NaN is then read as 0 on both sides.
const decisionNumerical = 2

// treeBlock renders one tree as LightGBM's Tree=i block, without the blank
// lines that separate blocks.
func treeBlock(i int, t *Tree, shrinkage float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tree=%d\n", i)
	fmt.Fprintf(&b, "num_leaves=%d\n", len(t.LeafValue))
	b.WriteString("num_cat=0\n")
	if len(t.SplitFeature) > 0 {
		dt := make([]int, len(t.SplitFeature))
		for k := range dt {
			dt[k] = decisionNumerical
		}
		fmt.Fprintf(&b, "split_feature=%s\n", joinInts(t.SplitFeature))
		fmt.Fprintf(&b, "split_gain=%s\n", joinFloats(t.SplitGain))
		fmt.Fprintf(&b, "threshold=%s\n", joinFloats(t.Threshold))
		fmt.Fprintf(&b, "decision_type=%s\n", joinInts(dt))
		fmt.Fprintf(&b, "left_child=%s\n", joinInts(t.Left))
		fmt.Fprintf(&b, "right_child=%s\n", joinInts(t.Right))
	}
	fmt.Fprintf(&b, "leaf_value=%s\n", joinFloats(t.LeafValue))
	fmt.Fprintf(&b, "leaf_weight=%s\n", joinFloats(t.LeafWeight))
	fmt.Fprintf(&b, "leaf_count=%s\n", joinInts(t.LeafCount))
	if len(t.SplitFeature) > 0 {
		fmt.Fprintf(&b, "internal_value=%s\n", joinFloats(t.InternalValue))
		fmt.Fprintf(&b, "internal_weight=%s\n", joinFloats(t.InternalWeight))
		fmt.Fprintf(&b, "internal_count=%s\n", joinInts(t.InternalCount))
	}
	b.WriteString("is_linear=0\n")
	fmt.Fprintf(&b, "shrinkage=%s\n", fmtFloat(shrinkage))
	return b.String()
}

func writeLightGBM(w io.Writer, features []string, infos string, trees []*Tree, average bool, shrinkage float64, params []string) error {
	for _, f := range features {
		if f == "" || strings.ContainsAny(f, " \t\r\n=") {
			return fmt.Errorf("trees: feature name %q cannot be written in a LightGBM model (empty, blank or '=')", f)
		}
	}
	blocks := make([]string, len(trees))
	sizes := make([]int, len(trees))
	for i, t := range trees {
		// LightGBM's tree_sizes count the block plus its two newlines.
		blocks[i] = treeBlock(i, t, shrinkage) + "\n\n"
		sizes[i] = len(blocks[i])
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n")
	fmt.Fprintf(bw, "max_feature_idx=%d\n", len(features)-1)
	bw.WriteString("objective=binary sigmoid:1\n")
	if average {
		bw.WriteString("average_output\n")
	}
	fmt.Fprintf(bw, "feature_names=%s\n", strings.Join(features, " "))
	fmt.Fprintf(bw, "feature_infos=%s\n", infos)
	fmt.Fprintf(bw, "tree_sizes=%s\n\n", joinInts(sizes))
	for _, b := range blocks {
		bw.WriteString(b)
	}
	bw.WriteString("end of trees\n\nfeature_importances:\n")
	for _, fi := range importances(features, trees) {
		fmt.Fprintf(bw, "%s=%d\n", fi.name, fi.splits)
	}
	bw.WriteString("\nparameters:\n")
	for _, p := range params {
		fmt.Fprintf(bw, "[%s]\n", p)
	}
	bw.WriteString("\nend of parameters\n\npandas_categorical:null\n")
	return bw.Flush()
}

type importance struct {
	name   string
	splits int
}

// importances counts splits per feature, most used first (LightGBM's
// "split" importance); unused features are left out, as LightGBM does.
func importances(features []string, trees []*Tree) []importance {
	counts := make([]int, len(features))
	for _, t := range trees {
		for _, f := range t.SplitFeature {
			counts[f]++
		}
	}
	var out []importance
	for f, c := range counts {
		if c > 0 {
			out = append(out, importance{features[f], c})
		}
	}
	slices.SortStableFunc(out, func(a, b importance) int { return b.splits - a.splits })
	return out
}

var (
	_ learn.Exporter = (*GBDT)(nil)
	_ learn.Exporter = (*RandomForest)(nil)
	_ learn.Exporter = (*DecisionTree)(nil)
)
