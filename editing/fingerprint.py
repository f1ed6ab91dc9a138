"""Which changes need ``rasa train``: the training data's fingerprint, kept next to the model.

After training, ``scripts/train.sh`` records a fingerprint of everything the model was
trained on (config.yml, domain.yml and data/ except the playbooks and the priority policy,
which the action server reads live) in ``models/dy.fingerprint.json``, together with the
model file's own hash. ``make validate`` compares the data with it and names every file
changed since. YAML is compared by content, so comments and blank lines never ask for
training. A model trained some other way (no matching fingerprint) is compared by date.

Usage: python -m editing.fingerprint record [--project DIR]   (after training)
       python -m editing.fingerprint check  [--project DIR]   (exit 1 when training is needed)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml

from editing.project import Project


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_hash(path: Path) -> str:
    if path.suffix in (".yml", ".yaml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
            return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        except (yaml.YAMLError, UnicodeDecodeError):
            pass  # a broken file still gets a hash: it differs from the trained one
    return _file_hash(path)


#: Training data (YAML) and the jieba dictionary (text); not notes, READMEs or editor swap files.
TRAINED_SUFFIXES = (".yml", ".yaml", ".txt")


def training_inputs(project: Project) -> list[Path]:
    """The files a trained model depends on."""
    files = [project.config_path, project.domain_path]
    files += [
        p
        for p in sorted(project.data_dir.rglob("*"))
        if p.is_file()
        and p.suffix in TRAINED_SUFFIXES
        and not p.name.startswith(".")
        and p.relative_to(project.data_dir).parts[0] not in ("playbooks", "policy")
    ]
    return [f for f in files if f.is_file()]


def compute(project: Project) -> dict[str, str]:
    return {project.rel(path): _content_hash(path) for path in training_inputs(project)}


def sidecar(model: Path) -> Path:
    return model.with_name(model.name.split(".")[0] + ".fingerprint.json")


def record(project: Project, model: Path | None = None) -> Path:
    model = model or project.model_path
    target = sidecar(model)
    target.write_text(
        json.dumps(
            {"model_sha256": _file_hash(model), "files": compute(project)},
            ensure_ascii=False,
            indent=1,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    return target


KINDS = [
    ("config.yml", "模型配置"),
    ("domain.yml", "domain（意图、回复、槽位、动作）"),
    ("data/nlu/", "训练例句或同义词"),
    ("data/dictionary/", "分词词典"),
    ("data/rules", "规则"),
    ("data/stories", "故事"),
]


def _kind(name: str) -> str:
    return next((label for prefix, label in KINDS if name.startswith(prefix)), "训练数据")


def training_notices(project: Project, model: Path | None = None) -> list[str]:
    """``file:line: message`` for each training input changed since the model was trained.

    Empty when the model is up to date."""
    model = model or project.model_path
    model_name = project.rel(model)
    if not model.is_file():
        return [
            f"{model_name}:1: 还没有训练好的模型，请运行 make train（make run 和 make test "
            f"会自动训练）(no trained model)"
        ]
    current = compute(project)
    recorded: dict[str, str] | None = None
    try:
        saved = json.loads(sidecar(model).read_text(encoding="utf-8"))
        if saved.get("model_sha256") == _file_hash(model):
            recorded = saved.get("files") or {}
    except (OSError, ValueError):
        pass
    needs = (
        "需要运行 make train 重新训练，修改才会生效 "
        "(changed since the model was trained: run rasa train)"
    )
    if recorded is None:
        trained_at = model.stat().st_mtime
        newer = [name for name in current if (project.root / name).stat().st_mtime > trained_at]
        return [f"{name}:1: {_kind(name)}在模型训练之后修改过，{needs}" for name in newer]
    notices = [
        f"{name}:1: {_kind(name)}自上次训练以来有修改，{needs}"
        for name, digest in current.items()
        if recorded.get(name) not in (None, digest)
    ]
    notices += [
        f"{name}:1: 新增的{_kind(name)}文件还没有训练进模型，{needs}"
        for name in current
        if name not in recorded
    ]
    notices += [
        f"{name}:1: 这个文件在训练之后被删除了，{needs}" for name in recorded if name not in current
    ]
    return notices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("record", "check"))
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    project = Project(args.project)
    model = args.model.resolve() if args.model else None
    if args.command == "record":
        print(f"training fingerprint written to {project.rel(record(project, model))}")
        return 0
    notices = training_notices(project, model)
    for notice in notices:
        print(notice)
    if not notices:
        print("模型是最新的，不需要重新训练 (the model matches the training data)")
    return 1 if notices else 0


if __name__ == "__main__":
    sys.exit(main())
