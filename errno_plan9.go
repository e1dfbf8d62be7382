package resilientws

// errnoWords is empty on Plan 9, whose socket errors are strings.
var errnoWords []errnoWord
