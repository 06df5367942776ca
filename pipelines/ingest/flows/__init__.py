"""Flow records: CIDDS-001/002 and CICFlowMeter CSVs, nfdump CSV, Zeek conn.log (TSV and JSON).

One module a format (`cidds`, `cicflowmeter`, `nfdump`, `zeek`), each naming its columns and its
converters in a `FlowFormat`; what they share (line splitting, column casts, the compiled fast
path, the conversion to events) is in `common`. The readers are registered with every other input
format in `pipelines.ingest.formats`.
"""
