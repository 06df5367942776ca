"""Flow records: CIDDS-001/002 and CICFlowMeter CSVs, nfdump CSV, Zeek conn.log (TSV and JSON).

One module a format (`cidds`, `cicflowmeter`, `nfdump`, `zeek`), each naming its columns and its
converters in a `FlowFormat`; what they share (line splitting, column casts, the compiled fast
path, the conversion to events) is in `common`.
"""

from __future__ import annotations

from pipelines.ingest.flows.cicflowmeter import CICFLOWMETER
from pipelines.ingest.flows.cidds import CIDDS
from pipelines.ingest.flows.common import FlowFormat, iter_csv
from pipelines.ingest.flows.nfdump import NFDUMP
from pipelines.ingest.flows.zeek import iter_zeek_json, iter_zeek_tsv

CSV_FORMATS: dict[str, FlowFormat] = {f.name: f for f in (CIDDS, CICFLOWMETER, NFDUMP)}

__all__ = ["CSV_FORMATS", "FlowFormat", "iter_csv", "iter_zeek_json", "iter_zeek_tsv"]
