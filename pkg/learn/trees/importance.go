package trees

import "scanwatch/pkg/learn"

// GainImportance is each feature's share of the total split gain of a
// fitted tree model (GBDT, RandomForest or DecisionTree): LightGBM's
// feature_importance(importance_type="gain"), normalised to sum to 1. It
// says which features the model's decisions rest on: the first thing to
// look at when several models reach the same accuracy. ok is false for
// other models, and for a model without a split (all shares 0).
func GainImportance(m learn.Classifier, features int) (share []float64, ok bool) {
	var list []*Tree
	switch m := m.(type) {
	case *GBDT:
		list = m.TreeList()
	case *RandomForest:
		list = m.TreeList()
	case *DecisionTree:
		if m.Tree() != nil {
			list = []*Tree{m.Tree()}
		}
	default:
		return nil, false
	}
	share = make([]float64, features)
	total := 0.0
	for _, t := range list {
		for k, f := range t.SplitFeature {
			if f >= 0 && f < features {
				share[f] += t.SplitGain[k]
				total += t.SplitGain[k]
			}
		}
	}
	if total <= 0 {
		return share, false
	}
	for i := range share {
		share[i] /= total
	}
	return share, true
}
