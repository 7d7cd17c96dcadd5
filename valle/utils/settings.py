"""One home per setting: a dataclass field declares a setting's default, help and choices, and everything
else (a stage script's command-line options, the names a recipe conf may set, the README's settings
table) is built from it.

    @dataclass
    class GmmConfig:
        num_iters: int = setting(16, "EM iterations")          # a setting: --num-iters, conf num_iters
        var_floor_factor: float = 0.01                         # internal: no help, so not exposed

The flat name of a setting is its field name, with the prefix of every enclosing dataclass field (the
nested field's name + "_", or the ``prefix`` given to :func:`nested`), unless ``name=`` overrides it.
The command-line option is ``--<flat name with dashes>`` and the conf variable is the flat name: one
spelling, so a conf line, a log line and ``--help`` say the same thing.
"""
import argparse
import dataclasses
import typing
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Type

_HELP, _CHOICES, _NAME, _PREFIX = "setting_help", "setting_choices", "setting_name", "setting_prefix"


def setting(default: Any, help: str, *, choices: Optional[Sequence] = None, name: Optional[str] = None):
    """A dataclass field that is a user setting (a tuple default is stored as is: tuples are immutable)."""
    md = {_HELP: help, _CHOICES: tuple(choices) if choices else None, _NAME: name}
    return dataclasses.field(default=default, metadata=md)


def nested(cls: Type, prefix: Optional[str] = None):
    """A field holding another settings dataclass; its settings are flattened with ``prefix``
    (default: the field's name + "_"; "" keeps their own names)."""
    return dataclasses.field(default_factory=cls, metadata={_PREFIX: prefix})


class Setting(NamedTuple):
    name: str              # flat name: conf variable, and --option with dashes
    path: Tuple[str, ...]  # field names from the top dataclass down
    type: Any              # int, float, str, bool, Optional[float], Tuple[str, ...], Tuple[int, ...]
    default: Any
    help: str
    choices: Optional[tuple]

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


def settings_of(cls: Type, prefix: str = "") -> List[Setting]:
    """Every setting of ``cls`` (nested dataclasses flattened), in field order."""
    out: List[Setting] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if _PREFIX in f.metadata:
            sub = f.metadata[_PREFIX]
            sub = f.name + "_" if sub is None else sub
            out += [s._replace(path=(f.name,) + s.path) for s in settings_of(hints[f.name], prefix + sub)]
        elif _HELP in f.metadata:
            out.append(Setting(f.metadata[_NAME] or prefix + f.name, (f.name,), hints[f.name], f.default,
                               f.metadata[_HELP], f.metadata[_CHOICES]))
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TypeError(f"{cls.__name__}: settings named twice: {dupes}")
    return out


# ------------------------------------------------------------------------------------- value types
def _is_optional(tp) -> bool:
    return typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)


def _base(tp):
    if _is_optional(tp):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _is_sequence(tp) -> bool:
    return typing.get_origin(_base(tp)) in (tuple, list)


def _item_type(tp):
    args = [a for a in typing.get_args(_base(tp)) if a is not Ellipsis]
    return args[0] if args else str


def parse_bool(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _scalar_parser(tp):
    if tp is bool:
        return parse_bool
    if tp in (int, float, str):
        return tp
    raise TypeError(f"unsupported setting type {tp}")


def parse_value(s: Setting, text: str) -> Any:
    """A conf or command-line string -> the setting's value (sequences: whitespace-separated items;
    optional settings: "" or "none" -> None)."""
    if _is_optional(s.type) and text.strip().lower() in ("", "none"):
        return None
    if _is_sequence(s.type):
        return tuple(_scalar_parser(_item_type(s.type))(x) for x in text.split())
    return _scalar_parser(_base(s.type))(text)


def format_value(value: Any) -> str:
    """The conf spelling of a value (inverse of parse_value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return " ".join(format_value(v) for v in value)
    return str(value)


# -------------------------------------------------------------------------------- command line
def add_settings(parser: argparse.ArgumentParser, cls: Type, prefix: str = "", title: Optional[str] = None,
                 exclude: Sequence[str] = ()) -> None:
    """One option per setting of ``cls``, default and help from the field; settings named in ``exclude`` (flat
    names) get no option and keep their defaults (a command that has no use for them)."""
    group = parser.add_argument_group(title or f"settings ({cls.__name__}; a recipe conf sets them by these names "
                                      "with underscores)")
    unknown = set(exclude) - {s.name for s in settings_of(cls, prefix)}
    if unknown:
        raise ValueError(f"exclude names no setting of {cls.__name__}: {sorted(unknown)}")
    for s in settings_of(cls, prefix):
        if s.name in exclude:
            continue
        kw: Dict[str, Any] = {"default": s.default, "dest": s.name, "help": f"{s.help} [{format_value(s.default)}]"}
        if _is_sequence(s.type):
            kw.update(nargs="*", type=_scalar_parser(_item_type(s.type)))
        elif _is_optional(s.type):
            kw.update(type=lambda text, s=s: parse_value(s, text))
        else:
            kw.update(type=_scalar_parser(_base(s.type)))
        if s.choices:
            kw["choices"] = s.choices
        group.add_argument(s.option, **kw)


def from_args(cls: Type, args: argparse.Namespace, prefix: str = "", **fields):
    """``cls`` built from the options :func:`add_settings` added (plus ``fields`` that are not settings); excluded
    settings keep their defaults."""
    return build(cls, {s.name: getattr(args, s.name) for s in settings_of(cls, prefix) if hasattr(args, s.name)},
                 prefix, **fields)


def build(cls: Type, values: Dict[str, Any], prefix: str = "", **fields):
    """``cls`` with the given flat-named settings; the others keep their defaults."""
    by_path: Dict[Tuple[str, ...], Any] = {s.path: values[s.name] for s in settings_of(cls, prefix) if s.name in values}
    return _build(cls, by_path, fields)


def _build(cls: Type, by_path: Dict[Tuple[str, ...], Any], fields: Dict[str, Any]):
    hints = typing.get_type_hints(cls)
    kw = dict(fields)
    for f in dataclasses.fields(cls):
        if _PREFIX in f.metadata:
            sub = {p[1:]: v for p, v in by_path.items() if p[0] == f.name}
            kw[f.name] = _build(hints[f.name], sub, {})
        elif (f.name,) in by_path:
            v = by_path[(f.name,)]
            kw[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kw)


def iter_values(obj, prefix: str = "") -> Iterator[Tuple[Setting, Any]]:
    """(setting, value) pairs of a settings dataclass instance."""
    for s in settings_of(type(obj), prefix):
        v = obj
        for p in s.path:
            v = getattr(v, p)
        yield s, v
