package telemetry

// Record is record, for the benchmarks of the external test package.
var Record = record
