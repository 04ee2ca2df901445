"""A domain's sample data as a landing folder, for a run with no drop of its own.

Each source's `sample` is a file (in an installed package, or in the domain folder), linked
into the folder under the table's name, or a function returning the table, written as
Parquet. Ingest then reads the folder as any drop; a second run finds the same content
already ingested and skips it.
"""

import importlib.util
import os
from pathlib import Path

from larder import Sample, Source
from larder.domain import Domain
from pipelines.errors import IngestError
from pipelines.storage import write_parquet

SUFFIXES = (".csv.zip", ".csv.gz", ".csv", ".parquet")


def lay_out(domain: Domain, folder: Path) -> Path:
    """Every source's sample in `folder` (sources without one are left to the raw zone)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in domain.sources.values():
        if source.sample is not None:
            _place(domain.repo, source, source.sample, folder)
    return folder


def _place(repo: Path, source: Source, sample: Sample, folder: Path) -> None:
    if sample.frame is not None:
        frame = sample.frame()
        write_parquet(frame, folder / f"{source.name}.parquet")
        return
    path = _sample_path(repo, source, sample)
    suffix = next((s for s in SUFFIXES if path.name.lower().endswith(s)), None)
    if suffix is None:
        raise IngestError(
            f"source {source.name!r}: its sample {path.name} is not CSV (optionally zipped or "
            "gzipped) or Parquet; give a function that returns the table instead"
        )
    link = folder / f"{source.name}{suffix}"
    if link.is_symlink() or link.exists():
        if link.resolve() == path.resolve():
            return
        link.unlink()
    os.symlink(path.resolve(), link)


def _sample_path(repo: Path, source: Source, sample: Sample) -> Path:
    if sample.package:
        spec = importlib.util.find_spec(sample.package)
        if spec is None or not spec.submodule_search_locations:
            raise IngestError(
                f"source {source.name!r}: its sample is in the package {sample.package!r}, "
                "which is not installed: run `make install`"
            )
        path = Path(spec.submodule_search_locations[0]) / str(sample.path)
    else:
        path = repo / str(sample.path)
    if not path.is_file():
        raise IngestError(f"source {source.name!r}: no sample file at {path}")
    return path
