// Package infer reads LightGBM text models and scores feature vectors with
// them: what scanclass (and modelpick's export check) need at run time,
// without the trainers of package learn/trees.
//
// LoadLightGBM reads a binary model (ours, written by trees' exporters, or
// LightGBM's own; versions v3 and v4) into a Predictor backed by
// github.com/dmitryikh/leaves, after checking that every tree's child
// links form a tree (leaves follows them unchecked). Memo sits in front of
// a Predictor for a stream of rows: rows whose values fall between the
// same split thresholds get the same score, bit for bit, so it scores each
// such cell once. Tests hold the memo equal to leaves on LightGBM's own
// models, on probe vectors at and next to every threshold, and in
// FuzzLoadLightGBM.
package infer
