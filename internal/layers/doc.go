// Package layers holds no code: its test pins the layering of the module,
// bottom to top, so that no package imports one above it (see
// layers_test.go for the tiers and README's Layout).
package layers
