// Package trees holds scanwatch's tree learners and their export as
// LightGBM text models.
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
// Reading and scoring such files is package infer's, which scanclass uses
// without linking the trainers. Tests check that infer's score of every
// training row equals the trainer's own Prob.
package trees
