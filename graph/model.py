"""The responsibility graph's vocabulary: node kinds, relationship types, enumerations, records.

Administrative units are identified by their national statistical code, whose length gives the
level (2 province, 4 city, 6 district, 9 township, 12 village). Units, issues and rounds carry the
user's own ids. The pydantic records here are what loaders validate into and what the API takes as
request bodies, so a row is checked the same way whichever door it comes through.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import time
from sys import intern
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A root cause is reported at this confidence or above (1 − the false-discovery rate it is tested
# at); never below it, whatever the caller asks to list.
DEFAULT_MIN_CONFIDENCE = 0.99


class NodeKind(StrEnum):
    PROVINCE = "Province"
    CITY = "City"
    DISTRICT = "District"
    TOWNSHIP = "Township"
    VILLAGE = "Village"
    UNIT = "Unit"
    CATEGORY = "Category"
    ISSUE = "Issue"
    ROUND = "InspectionRound"
    TASK = "RectificationTask"


class Rel(StrEnum):
    PART_OF = "PART_OF"          # village -> township -> district -> city -> province
    BELONGS_TO = "BELONGS_TO"    # unit -> the district or township it serves
    FOUND_IN = "FOUND_IN"        # issue -> village
    OF_CATEGORY = "OF_CATEGORY"  # issue -> category
    DUTY = "DUTY"                # unit -> category, property duty
    ROOT_CAUSE_AT = "ROOT_CAUSE_AT"  # issue -> unit (inspectors' hint or surfaced cause)
    ASSIGNED_TO = "ASSIGNED_TO"  # rectification task -> unit or village
    IN_ROUND = "IN_ROUND"        # issue -> inspection round


# What the explorer calls each kind of node and relationship.
NODE_KIND_ZH = {NodeKind.PROVINCE: "省级", NodeKind.CITY: "市级", NodeKind.DISTRICT: "区县", NodeKind.TOWNSHIP: "乡镇(街道)",
                NodeKind.VILLAGE: "村(社区)", NodeKind.UNIT: "单位", NodeKind.CATEGORY: "问题类别", NodeKind.ISSUE: "问题",
                NodeKind.ROUND: "巡察轮次", NodeKind.TASK: "整改任务"}
REL_ZH = {Rel.PART_OF: "下辖", Rel.BELONGS_TO: "隶属", Rel.FOUND_IN: "发现于", Rel.OF_CATEGORY: "类别", Rel.DUTY: "职责",
          Rel.ROOT_CAUSE_AT: "根源在", Rel.ASSIGNED_TO: "交办", Rel.IN_ROUND: "所属轮次"}

KIND_BY_LEVEL = {"province": NodeKind.PROVINCE, "city": NodeKind.CITY, "district": NodeKind.DISTRICT,
                 "township": NodeKind.TOWNSHIP, "village": NodeKind.VILLAGE}
LEVEL_ZH = {"province": "省级", "city": "市级", "district": "区县", "township": "乡镇(街道)",
            "village": "村(社区)"}


def township_kind(name: str) -> str:
    """乡, 镇 or 街道, from a township-level unit's name (other names, e.g. 开发区, give 其他).

    >>> township_kind("高笋塘街道"), township_kind("甘宁镇"), township_kind("白土镇"), township_kind("恒合土家族乡")
    ('街道', '镇', '镇', '乡')
    """
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) or name.endswith(suffix + "办事处"):
            return suffix
    return "其他"


def village_kind(name: str) -> str:
    """``village`` (村民委员会) or ``community`` (居民委员会) from the statistical name; anything else,
    such as a 社区工作站 or a 生活区, is ``other``. Many districts' names carry no committee suffix
    (中宁县's 154 units read 振兴社区, 石喇叭村; 48,765 such names in the 2023 codes, besides
    Inner Mongolia's 嘎查, its villages): a bare name ending in 村 or 嘎查 is a village, one ending
    in 社区 a community. Read as ``other``, a whole district's units were compared with the few
    other districts' odd units, and a ×2 cause there stood at p 0.02.

    >>> village_kind("黄柏村委会"), village_kind("多福巷社区居委会"), village_kind("化龙桥社区工作站")
    ('village', 'community', 'other')
    >>> village_kind("石喇叭村"), village_kind("振兴社区"), village_kind("卜尔汉图嘎查"), village_kind("六郎庄生活区")
    ('village', 'community', 'village', 'other')
    >>> village_kind("沟口子村村民委会"), village_kind("新建社区居委"), village_kind("张发地村委")
    ('village', 'community', 'village')
    """
    if "村民委" in name or "村委" in name or "嘎查" in name or name.endswith("村"):
        return "village"
    if "居民委" in name or "居委" in name or name.endswith("社区"):
        return "community"
    return "other"


VILLAGE_KIND_ZH = {"village": "村", "community": "社区", "other": "其他"}


class BilingualEnum(StrEnum):
    """An enumeration whose values may be written in English or Chinese."""

    @classmethod
    def zh_names(cls) -> dict[str, str]:  # pragma: no cover - overridden
        return {}

    @property
    def zh(self) -> str:
        return self.zh_names()[self.value]

    @classmethod
    def parse(cls, raw: Any):
        if isinstance(raw, cls):
            return raw
        text = str(raw).strip()
        spellings = cls.spellings()
        member = spellings.get(text) or spellings.get(text.lower())
        if member is None:
            raise ValueError(f"以下之一：{cls.choices()}")
        return member

    @classmethod
    def spellings(cls) -> dict[str, "BilingualEnum"]:
        """Each member by its English value and its Chinese name (a ledger repeats a handful of
        spellings 200,000 times: one dict look-up each)."""
        spellings = cls.__dict__.get("_spellings")
        if spellings is None:
            spellings = {}
            for member in cls:
                spellings[member.value] = spellings[member.zh] = member
            setattr(cls, "_spellings", spellings)
        return spellings

    @classmethod
    def choices(cls) -> str:
        return "、".join(f"{m.zh} ({m.value})" for m in cls)


class UnitLevel(BilingualEnum):
    DISTRICT = "district"
    TOWNSHIP = "township"

    @classmethod
    def zh_names(cls):
        return {"district": "区县", "township": "乡镇"}

    @classmethod
    def parse(cls, raw: Any):
        text = str(raw).strip()
        if text in ("区县", "区", "县", "区级", "县级"):
            return cls.DISTRICT
        if text in ("乡镇", "乡镇(街道)", "乡镇街道", "街道", "乡", "镇"):
            return cls.TOWNSHIP
        return super().parse(raw)


class DutyType(BilingualEnum):
    PRIMARY = "primary"
    SUPERVISORY = "supervisory"
    GUIDANCE = "guidance"

    @classmethod
    def zh_names(cls):
        return {"primary": "主体责任", "supervisory": "监管责任", "guidance": "指导责任"}


DUTY_ORDER = {DutyType.PRIMARY: 0, DutyType.SUPERVISORY: 1, DutyType.GUIDANCE: 2}


class Severity(BilingualEnum):
    MINOR = "minor"
    SERIOUS = "serious"
    GRAVE = "grave"

    @classmethod
    def zh_names(cls):
        return {"minor": "一般", "serious": "较重", "grave": "严重"}


class Status(BilingualEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RECTIFIED = "rectified"
    CLOSED = "closed"
    # Rectified or closed once, then found again in a later round (the fix did not hold): open
    # again for tracking, and still a rectified problem that came back for the ledger's evidence.
    REOPENED = "reopened"

    @classmethod
    def zh_names(cls):
        return {"open": "未整改", "in_progress": "整改中", "rectified": "已整改", "closed": "已销号",
                "reopened": "复发重开"}


# Statuses by what they mean: done (rectification finished) and once rectified (the ledger's
# recurrence evidence: a problem reopened after its fix was rectified before).
DONE_STATUSES = ("rectified", "closed")
OPEN_STATUSES = ("open", "in_progress", "reopened")
ONCE_RECTIFIED = ("rectified", "closed", "reopened")


def overdue(status: str, due_on: dt.date | None, as_of: dt.date) -> bool:
    """Past its rectification deadline and not rectified (逾期未整改): an open status and a due
    date before ``as_of``. The stores' list filters (SQL, Cypher) read the same statuses.

    >>> overdue("in_progress", dt.date(2024, 3, 1), dt.date(2024, 3, 2))
    True
    >>> overdue("rectified", dt.date(2024, 3, 1), dt.date(2024, 3, 2)), overdue("open", None, dt.date(2024, 3, 2))
    (False, False)
    """
    return status in OPEN_STATUSES and due_on is not None and due_on < as_of

# The ledger's optional 届次 column: the term of office (巡察届次) a problem was found in, any label
# ("第十四届", "2021-2026"). The issue keeps it as a column the format does not name (its
# ``extra``, in every store), under the header the office wrote; terms are ordered by their median
# 发现日期 (graph.analysis.root_causes.terms.order_terms).
TERM_HEADER = "届次"
TERM_HEADERS = (TERM_HEADER, "巡察届次", "届别")
# Spaces a label's cells may carry anywhere (typed, pasted, Excel's full-width ones): none is part of
# the label. "十四 届" in a few rows was a term of its own, and the latest: the analysis of 21 problems.
TERM_SPACES = (" ", "\u3000", "\u00a0", "\t", "\r", "\n")


def term_of(extra) -> str | None:
    """The 届次 of an issue from its extra columns, its spaces left out; None where the ledger has
    none. The stores' queries read it by the same rule (``TERM_SPACES``).

    >>> term_of({"巡察届次": " 第十四届 "}), term_of({"届次": "十四\u3000届"}), term_of({}), term_of(None)
    ('第十四届', '十四届', None, None)
    """
    for header in TERM_HEADERS:
        label = term_label((extra or {}).get(header))
        if label:
            return label
    return None


def term_label(value) -> str | None:
    """A 届次 as the ledger's rule reads it, a cell or a term asked for (``--term``, ``term=``):
    its spaces left out; None for nothing.

    >>> term_label(" 十四 届 "), term_label("  "), term_label(None)
    ('十四届', None, None)
    """
    if value is None:
        return None
    label = str(value)
    for space in TERM_SPACES:
        label = label.replace(space, "")
    return label or None

# The weight of a finding in the ledger's evidence, by severity (一般 1, 较重 2, 严重 4); a value
# outside the enumeration (none passes validation) weighs as the gravest.
SEVERITY_WEIGHT = {Severity.MINOR.value: 1.0, Severity.SERIOUS.value: 2.0, Severity.GRAVE.value: 4.0}
UNKNOWN_SEVERITY_WEIGHT = max(SEVERITY_WEIGHT.values())
# The ledger rule's constants as query parameters: the stores' aggregations (LEDGER_SQL,
# LEDGER_CYPHER) bind these, graph/analysis/ledger.py reads the same names.
LEDGER_PARAMETERS = {"once_rectified": list(ONCE_RECTIFIED), "severity_weight": dict(SEVERITY_WEIGHT),
                     "unknown_severity_weight": UNKNOWN_SEVERITY_WEIGHT}


def _enum_validator(enum_cls):
    def check(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return value
        try:
            return enum_cls.parse(value)
        except ValueError:
            raise ValueError(f"以下之一：{enum_cls.choices()}") from None
    return check


_DATE_PATTERNS = (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
                  re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"), re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"))


# The codes and names a request may carry, each pattern with what it asks for in words: a refused
# value is told "6 位区县代码", not the regular expression.
# Codes are ASCII digits: ``\d`` would take full-width or Arabic-Indic ones (５００１０１), which
# name no division. A name has no digit, space, control or invisible character (C1 controls,
# zero-width and direction marks, the byte-order mark): 万州区 followed by one is no other name.
VILLAGE_CODE = r"^[0-9]{12}$"
TOWNSHIP_CODE = r"^[0-9]{9}$"
DISTRICT_CODE = r"^[0-9]{6}$"
DISTRICT_OR_TOWNSHIP_CODE = r"^[0-9]{6}([0-9]{3})?$"
DIVISION_PREFIX = r"^[0-9]{2,9}$"
DISTRICT_CODE_OR_NAME = (r"^([0-9]{6}|[^\d\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]{2,30})$")
PATTERN_WORDS = {
    VILLAGE_CODE: ("12 位村(社区)代码", "a 12-digit village code"),
    TOWNSHIP_CODE: ("9 位乡镇(街道)代码", "a 9-digit township code"),
    DISTRICT_CODE: ("6 位区县代码", "a 6-digit district code"),
    DISTRICT_OR_TOWNSHIP_CODE: ("6 位区县代码或 9 位乡镇(街道)代码", "a 6-digit district or 9-digit township code"),
    DIVISION_PREFIX: ("2 到 9 位区划代码", "a division code of 2 to 9 digits"),
    DISTRICT_CODE_OR_NAME: ("6 位区县代码或区县全名（如 500101 或 万州区；2 到 30 个字，不含数字、空白、控制字符和不可见字符）",
                            "a 6-digit district code or a district's full name"),
}


# What a request's value should have been, in Chinese, by pydantic's error type (its English
# message follows in parentheses): an API client's analyst reads the former, its developer the latter.
_EXPECTED_ZH = {
    "missing": "一个值，不能为空", "greater_than_equal": "不小于 {ge} 的数", "less_than_equal": "不大于 {le} 的数",
    "greater_than": "大于 {gt} 的数", "less_than": "小于 {lt} 的数", "int_parsing": "整数", "int_type": "整数",
    "int_from_float": "整数", "float_parsing": "数字", "float_type": "数字", "finite_number": "有限的数",
    "bool_parsing": "true 或 false", "bool_type": "true 或 false", "string_type": "文本",
    "string_too_short": "至少 {min_length} 个字符", "string_too_long": "至多 {max_length} 个字符",
    "string_pattern_mismatch": "符合格式 {pattern}", "enum": "以下之一：{expected}", "literal_error": "以下之一：{expected}",
    "date_parsing": "日期，如 2024-03-05", "date_from_datetime_parsing": "日期，如 2024-03-05", "date_type": "日期，如 2024-03-05",
    "dict_type": "JSON 对象", "model_type": "JSON 对象", "model_attributes_type": "JSON 对象", "list_type": "列表",
    "json_invalid": "合法的 JSON", "extra_forbidden": "格式中有的字段（这个字段不认识）",
    "too_short": "至少 {min_length} 项", "too_long": "至多 {max_length} 项",
}


def expected_zh(error: Mapping) -> str:
    """What a value should have been, from one of pydantic's errors: Chinese first, its own message
    after; an error raised by this project's validators is already Chinese and stays as it is.

    >>> expected_zh({"type": "less_than_equal", "msg": "Input should be less than or equal to 1", "ctx": {"le": 1}})
    '不大于 1 的数 (Input should be less than or equal to 1)'
    >>> expected_zh({"type": "value_error", "msg": "Value error, 应为 12 位村(社区)代码"})
    '应为 12 位村(社区)代码'
    >>> expected_zh({"type": "string_pattern_mismatch", "msg": "String should match pattern '^\\\\d{6}$'",
    ...              "ctx": {"pattern": DISTRICT_CODE}})
    '6 位区县代码 (a 6-digit district code)'
    """
    message = str(error.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    if error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") in PATTERN_WORDS:
        chinese, english = PATTERN_WORDS[error["ctx"]["pattern"]]
        return f"{chinese} ({english})"
    template = _EXPECTED_ZH.get(error.get("type", ""))
    if template is None:
        return message
    try:
        text = template.format(**{k: format(v, "g") if isinstance(v, float) else v
                                  for k, v in (error.get("ctx") or {}).items()})
    except (KeyError, IndexError):
        text = template.split("{")[0].rstrip("：")
    return f"{text} ({message})"


def parse_date(value: Any) -> dt.date | None:
    """A date from ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY年M月D日`` or an Excel date cell.

    >>> parse_date("2024年3月5日"), parse_date("2024/03/05"), parse_date("")
    (datetime.date(2024, 3, 5), datetime.date(2024, 3, 5), None)
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _date_from_text(str(value).strip())


@functools.lru_cache(maxsize=8192)
def _date_from_text(text: str) -> dt.date | None:
    # Cached: a ledger has a few hundred distinct dates over its rows.
    if not text:
        return None
    if " " in text and re.match(r"^\d{4}-\d{2}-\d{2} 00:00:00$", text):
        text = text.split(" ")[0]
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                raise ValueError("日历上存在的日期 (a real date, YYYY-MM-DD)") from None
    raise ValueError("日期，如 2024-03-05、2024/3/5 或 2024年3月5日 (a date)")


def _today() -> dt.date:
    """Today, read once a second at most (validation asks for it on every row)."""
    now = time.monotonic()
    if now - _TODAY[0] > 1.0:
        _TODAY[:] = [now, dt.date.today()]
    return _TODAY[1]


_TODAY: list = [float("-inf"), None]


# No village inspection finding predates this: a year written 0024 or 1024 is a typing error.
EARLIEST_FOUND = dt.date(2000, 1, 1)

# Full-width digits and signs as a Chinese input method types them, as the ASCII ones.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９．，－／：", "0123456789.,-/:")


def half_width(text: str) -> str:
    """Full-width digits and number signs as ASCII: a code or amount typed with a Chinese input
    method reads the same as one typed without.

    >>> half_width("５００１０１００１００１"), half_width("１，２３４．５")
    ('500101001001', '1,234.5')
    """
    return text.translate(_HALF_WIDTH) if not text.isascii() else text


_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")
_DECIMAL_COMMA = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})*,[0-9]+$")


def parse_amount(text: str) -> str:
    """An amount in yuan as written in a ledger, as the text of a number, or ValueError saying why
    not: thousands separators only every three digits (1,234.50), no decimal comma (1.234,50 or
    1,23 are refused, not read as 1.2345 or 123), 元 allowed after the number, 万元 refused with a
    hint (the column is in yuan).

    >>> parse_amount("1,234.50"), parse_amount("１２０００元"), parse_amount("800")
    ('1234.50', '12000', '800')
    >>> parse_amount("1,23")
    Traceback (most recent call last):
    ValueError: 数字，小数点用“.”而不是逗号：“1,23”若是 1.23 请写作 1.23，若是 123 请写作 123 (a decimal point, not a comma)
    """
    text = half_width(text.strip())
    if "万" in text or "亿" in text:
        raise ValueError(f"以元为单位的数字：“{text}”请换算成元，如 1.2万元 写作 12000 (an amount in yuan)")
    text = text.removesuffix("元").strip()
    if "," in text:
        if _THOUSANDS.match(text):
            return text.replace(",", "")
        if _DECIMAL_COMMA.match(text):
            point = text.replace(".", "").replace(",", ".")
            meant = (f"应写作 {point}" if "." in text else
                     f"若是 {point} 请写作 {point}，若是 {text.replace(',', '')} 请写作 {text.replace(',', '')}")
            raise ValueError(f"数字，小数点用“.”而不是逗号：“{text}”{meant} (a decimal point, not a comma)")
        raise ValueError(f"数字；千位分隔符“,”须每三位一个，如 1,234.50：“{text}”不是 (thousands separators every "
                         "three digits)")
    return text


def category_spelling(name: str) -> str:
    """A category name with full-width brackets as half-width ones, as the catalog writes them: 村（居）务公开
    is 村(居)务公开, never a look-alike second category.

    >>> category_spelling("村（居）务公开")
    '村(居)务公开'
    """
    return name.replace("（", "(").replace("）", ")").strip() if not name.isascii() else name.strip()


def village_name_matches(given: str, statistical: str) -> bool:
    """Whether a ledger's village name names the statistical division: the name itself, or the
    name without its committee suffix (东方广场社区 for 东方广场社区居委会), as the stores resolve names.

    >>> village_name_matches("东方广场社区", "东方广场社区居委会"), village_name_matches("黄柏村", "东方广场社区居委会")
    (True, False)
    """
    return statistical == given or any(statistical == given + suffix for suffix in VILLAGE_SUFFIXES)


VILLAGE_SUFFIXES = ("村民委员会", "居民委员会", "村委会", "居委会")


def short_name(name: str) -> str:
    """The name people use (the explorer's ``short`` in api/static/ui.html is the same rule): 黄柏村 for 黄柏村村民委员会, 东方广场社区 for 东方广场社区居委会.
    A name that already ends in 村 or 社区 takes no second noun: 先锋社区 for 先锋社区村民委员会 (21 of
    Chongqing's villages are named so), 重庆村社区 for 重庆村社区居民委员会.

    >>> short_name("黄柏村村民委员会"), short_name("东方广场社区居委会"), short_name("化龙桥社区工作站")
    ('黄柏村', '东方广场社区', '化龙桥社区工作站')
    >>> short_name("先锋社区村民委员会"), short_name("重庆村社区居民委员会"), short_name("简村村民委员会")
    ('先锋社区', '重庆村社区', '简村')
    """
    for suffixes, noun in ((("村民委员会", "村委会"), "村"), (("居民委员会", "居委会"), "社区")):
        for suffix in suffixes:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                return base if base.endswith(("村", "社区")) else base + noun
    return name


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "y", "true", "1", "是"):
        return True
    if text in ("no", "n", "false", "0", "否", ""):
        return False
    raise ValueError("是 或 否 (yes/no)")


class Record(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)
    # Columns the format does not name are kept as properties.
    extra: dict[str, str] = Field(default_factory=dict)


class Division(NamedTuple):
    """A statistical division. A plain tuple: the national set has 660,000 of them."""

    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None = None  # 乡/镇/街道 for townships; village/community/other for villages


class UnitIn(Record):
    """A row of the units table (机关/部门名录)."""

    unit_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    level: UnitLevel
    area_code: str
    function: str = Field(min_length=1)
    leader: str | None = None   # 分管领导: the leader in charge, whom a transfer notice is copied to

    _level = field_validator("level", mode="before")(_enum_validator(UnitLevel))

    @model_validator(mode="after")
    def _area_matches_level(self):
        expected = 6 if self.level is UnitLevel.DISTRICT else 9
        if not (self.area_code.isdigit() and len(self.area_code) == expected):
            raise ValueError(f"area_code: {expected} 位{'区县' if expected == 6 else '乡镇(街道)'}代码"
                             f"（{self.level.zh}级单位）({expected}-digit code for a {self.level.value}-level unit)")
        return self


class DutyIn(Record):
    """A row of the duties table (权责清单)."""

    category: str = Field(min_length=1)
    level: UnitLevel
    function: str = Field(min_length=1)
    duty: DutyType

    _level = field_validator("level", mode="before")(_enum_validator(UnitLevel))
    _duty = field_validator("duty", mode="before")(_enum_validator(DutyType))

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value):
        return category_spelling(value) if isinstance(value, str) else value


class IssueIn(Record):
    """A row of the problem ledger (问题台账), after the village has been resolved to its code."""

    issue_id: str = Field(min_length=1)
    village_code: str = Field(pattern=r"^\d{12}$")
    round_id: str = Field(min_length=1)
    found_on: dt.date
    category: str = Field(min_length=1)
    description: str = ""
    severity: Severity
    amount_yuan: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    status: Status
    immediate: bool = False
    due_on: dt.date | None = None
    closed_on: dt.date | None = None
    root_unit_hint: str | None = None

    _severity = field_validator("severity", mode="before")(_enum_validator(Severity))
    _status = field_validator("status", mode="before")(_enum_validator(Status))

    @field_validator("found_on", "due_on", "closed_on", mode="before")
    @classmethod
    def _date(cls, value):
        return parse_date(value)

    @field_validator("immediate", mode="before")
    @classmethod
    def _bool(cls, value):
        return parse_bool(value)

    @field_validator("amount_yuan", mode="before")
    @classmethod
    def _amount(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            return parse_amount(value)
        return value

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value):
        return category_spelling(value) if isinstance(value, str) else value

    @field_validator("root_unit_hint", mode="before")
    @classmethod
    def _hint(cls, value):
        return None if value is None or not str(value).strip() else str(value).strip()

    @model_validator(mode="after")
    def _dates_and_status_agree(self):
        # Each rule names its field first, so the loader reports the column the user has to fix.
        today = _today()
        if self.found_on < EARLIEST_FOUND:
            raise ValueError(f"found_on: 不早于 {EARLIEST_FOUND} 的日期（年份是否写错？如 0024 应为 2024）"
                             f"(a date from {EARLIEST_FOUND.year} on)")
        if self.found_on > today:
            raise ValueError(f"found_on: 不晚于今天 ({today}) 的日期 (not in the future)")
        if self.closed_on is not None and self.closed_on > today:
            raise ValueError(f"closed_on: 不晚于今天 ({today}) 的日期 (not in the future)")
        if self.closed_on is not None and self.closed_on < self.found_on:
            raise ValueError(f"closed_on: 不早于发现日期 {self.found_on} 的日期 (on or after found_on)")
        if self.due_on is not None and self.due_on < self.found_on:
            raise ValueError(f"due_on: 不早于发现日期 {self.found_on} 的日期 (on or after found_on)")
        if self.status is Status.CLOSED and self.closed_on is None:
            raise ValueError("closed_on: 销号日期：整改状态为已销号的问题须写明销号日期 (a closed issue has its date)")
        if self.closed_on is not None and self.status in (Status.OPEN, Status.IN_PROGRESS):
            raise ValueError(f"closed_on: 空：整改状态为{self.status.zh}的问题还没有销号日期 "
                             "(no closing date while the issue is open)")
        return self


NO_EXTRA: Mapping[str, str] = MappingProxyType({})


class IssueRecord(NamedTuple):
    """A validated issue in compact form: the fields of :class:`IssueIn` in a tuple, so a
    200,000-row ledger held between validation and writing stays small (and each record costs a
    fifth of a microsecond to make, where a frozen dataclass costs two). Stores read either."""

    issue_id: str
    village_code: str
    round_id: str
    found_on: dt.date
    category: str
    description: str
    severity: Severity
    amount_yuan: float | None
    status: Status
    immediate: bool
    due_on: dt.date | None
    closed_on: dt.date | None
    root_unit_hint: str | None
    extra: Mapping[str, str]

    @classmethod
    def of(cls, issue: IssueIn) -> "IssueRecord":
        values = issue.__dict__
        return cls(values["issue_id"], values["village_code"], values["round_id"], values["found_on"],
                   values["category"], values["description"], values["severity"], values["amount_yuan"],
                   values["status"], values["immediate"], values["due_on"], values["closed_on"],
                   values["root_unit_hint"], values["extra"] or NO_EXTRA)


_PLAIN_AMOUNT = re.compile(r"^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?$")
_PLAIN_BOOL = {"yes": True, "y": True, "true": True, "1": True, "是": True,
               "no": False, "n": False, "false": False, "0": False, "否": False}
_SEVERITIES, _STATUSES = Severity.spellings(), Status.spellings()
_PLAIN_DATES: dict[str, dt.date] = {}
_ISSUE_FIELDS = frozenset(("issue_id", "village_code", "round_id", "found_on", "category", "description",
                           "severity", "amount_yuan", "status", "immediate", "due_on", "closed_on",
                           "root_unit_hint"))


def _plain_date(value: Any) -> dt.date | None:
    """A date the fast path accepts without a doubt, else ``None``: text through the same cached
    parser as :class:`IssueIn`, or an Excel date cell. The text of each date read is kept in
    ``_PLAIN_DATES``, which the fast path reads first (a dictionary look-up instead of two calls)."""
    if value.__class__ is str:
        try:
            day = _date_from_text(value)
        except ValueError:
            return None
        if day is not None and len(_PLAIN_DATES) < 10_000:  # a ledger has a few hundred dates
            _PLAIN_DATES[value] = day
        return day
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def plain_issue(fields: Mapping[str, Any], extra: Mapping[str, Any]) -> IssueRecord | None:
    """The record :class:`IssueIn` would give for a row written the plain way, or ``None`` when the
    row has anything unusual (a missing or odd value, a broken rule): then the row goes through
    pydantic, which says what is wrong. A ledger is almost all plain rows, and this is about eight
    times faster than the model (which runs Python validators field by field); the test suite checks
    on many thousands of generated rows that every record it gives equals the model's.

    ``fields`` holds the row's non-empty values by canonical column, stripped as the readers give
    them.

    >>> plain_issue({"issue_id": "Q1", "village_code": "500101001001", "round_id": "第1轮",
    ...              "found_on": "2024-03-05", "category": "三资管理", "severity": "一般",
    ...              "status": "未整改"}, {}).status
    <Status.OPEN: 'open'>
    >>> plain_issue({"issue_id": "Q1", "village_code": "5.00101E+11", "round_id": "第1轮",
    ...              "found_on": "2024-03-05", "category": "三资管理", "severity": "一般",
    ...              "status": "未整改"}, {}) is None
    True
    """
    if not fields.keys() <= _ISSUE_FIELDS:
        return None
    return plain_issue_values(*map(fields.get, ISSUE_FIELD_ORDER), extra)


# The columns of a ledger row in the order :func:`plain_issue_values` takes them.
ISSUE_FIELD_ORDER = ("issue_id", "village_code", "round_id", "found_on", "category", "description", "severity",
                     "amount_yuan", "status", "immediate", "due_on", "closed_on", "root_unit_hint")


def plain_issue_values(issue_id, village_code, round_id, found_on, category, description, severity,
                       amount, status, immediate, due_on, closed_on, hint,
                       extra: Mapping[str, Any]) -> IssueRecord | None:
    """:func:`plain_issue` with the values given in :data:`ISSUE_FIELD_ORDER`, ``None`` for an
    empty cell: the loaders call it straight from a CSV row, without a dict per row."""
    if description is None:
        description = ""
    if not (issue_id.__class__ is village_code.__class__ is round_id.__class__ is category.__class__
            is description.__class__ is str):
        return None
    if not (issue_id and round_id and category and len(village_code) == 12 and village_code.isascii()
            and village_code.isdigit()):
        return None
    if hint is not None and (hint.__class__ is not str or not hint):
        return None
    severity = _SEVERITIES.get(severity)
    status = _STATUSES.get(status)
    if severity is None or status is None:
        return None
    dates = _PLAIN_DATES
    found_on = dates.get(found_on) or _plain_date(found_on)
    if found_on is None:
        return None
    if due_on is not None and (due_on := dates.get(due_on) or _plain_date(due_on)) is None:
        return None
    if closed_on is not None and (closed_on := dates.get(closed_on) or _plain_date(closed_on)) is None:
        return None
    if amount is not None:
        if amount.__class__ is str:
            if not _PLAIN_AMOUNT.match(amount):
                return None
            amount = float(amount)
        elif amount.__class__ in (int, float) and 0 <= amount < 1e15:
            amount = float(amount)
        else:
            return None
    if immediate is None:
        immediate = False
    elif immediate.__class__ is str:
        immediate = _PLAIN_BOOL.get(immediate.lower())
    if immediate.__class__ is not bool:
        return None
    for value in extra.values():
        if value.__class__ is not str or value != value.strip():
            return None
    # The rules between fields, as IssueIn._dates_and_status_agree states them.
    today = _today()
    if found_on > today or found_on < EARLIEST_FOUND or (closed_on is not None and (closed_on > today or closed_on < found_on)):
        return None
    if due_on is not None and due_on < found_on:
        return None
    if status is Status.CLOSED and closed_on is None:
        return None
    if closed_on is not None and (status is Status.OPEN or status is Status.IN_PROGRESS):
        return None
    # The codes and names a ledger repeats on every row are kept once each (interned strings are
    # freed with their last user), which keeps a 200,000-row ledger tens of megabytes smaller.
    return IssueRecord(issue_id, intern(village_code), intern(round_id), found_on, intern(category), description,
                       severity, amount, status, immediate, due_on, closed_on, hint and intern(hint),
                       dict(extra) if extra else NO_EXTRA)


class CategoryIn(Record):
    """A problem category of the catalog. ``key`` is an optional English alias; rates are the
    expected problems per village-level unit per term, the reference a district is compared with
    when no other district has a ledger. A category without rates (one a duties table named) has
    no reference: no share is ever invented for it."""

    name: str = Field(min_length=1)
    key: str | None = None
    group: str = ""
    rate_village: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    rate_community: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    money: bool = False
    systemic_fix: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        return category_spelling(value) if isinstance(value, str) else value

    @field_validator("rate_village", "rate_community", mode="before")
    @classmethod
    def _rate(cls, value):
        return half_width(value) if isinstance(value, str) else value

    @field_validator("money", mode="before")
    @classmethod
    def _money(cls, value):
        return False if value is None else parse_bool(value)
