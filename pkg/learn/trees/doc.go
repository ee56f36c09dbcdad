// Package trees holds scanwatch's tree learners and their LightGBM model
// files.
//
// All three learners share one histogram tree grower: each feature of a
// Dataset is bucketed once per Fit into at most 255 quantile bins whose
// bounds are values present in the data, so a split "bin <= b" is the exact
// real test "x <= threshold" that LightGBM (and leaves) evaluate.
//
//   - GBDT: gradient boosting on binary log-loss (XGBoost gain and Newton
//     leaves), exported as a LightGBM gbdt model: P = sigmoid(sum of trees).
//   - RandomForest: bootstrap rows, feature sampling per split, Gini or
//     entropy; exported as a LightGBM rf model (average_output, leaf values
//     are probabilities): P = mean of trees, no sigmoid.
//   - DecisionTree: one classification tree, exported like a one-tree forest.
//
// LoadLightGBM reads such files (ours or LightGBM's own, versions v3 and v4)
// into a Predictor backed by github.com/dmitryikh/leaves; that is what
// scanclass uses. Tests check that leaves' score of every training row of
// the seed set equals the trainer's own Prob.
package trees
