package refop

// TombstoneAfter is tombstoneAfter, for the edge tests of retirement.
const TombstoneAfter = tombstoneAfter
