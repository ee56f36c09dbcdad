// Package models embeds the shipped default model, so that scanclass works
// from any directory without a model file. models/README.md says how it was
// trained; `just train` rebuilds it.
package models

import _ "embed"

// Default is the default model, in LightGBM's text format.
//
//go:embed model.txt
var Default []byte

// DefaultName names the embedded model in messages.
const DefaultName = "embedded default model (models/model.txt)"
