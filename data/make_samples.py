"""Build the small sample datasets shipped with ``mlw`` (seeded, deterministic).

Run from the repository root::

    python data/make_samples.py

Every file is written next to this script (``data/``) and is byte-identical
between runs.

Datasets
--------
iris.csv
    scikit-learn's bundled Iris data (``load_iris``; Fisher 1936 via the UCI
    repository). 150 rows, 4 measurements in cm plus ``species``
    (setosa / versicolor / virginica). Classification.
wine.csv
    scikit-learn's bundled Wine recognition data (``load_wine``; UCI, Forina
    et al.). 178 rows, 13 chemical measurements plus ``cultivar``
    (class_0 / class_1 / class_2). Column names are sklearn's with ``/`` and
    spaces replaced by ``_``; whole-number columns (magnesium, proline) are
    written as integers. Classification.
breast_cancer.csv
    scikit-learn's bundled Breast Cancer Wisconsin (Diagnostic) data
    (``load_breast_cancer``; UCI, Wolberg et al.). 569 rows, 30 features plus
    ``diagnosis`` (malignant / benign; sklearn codes 0 = malignant,
    1 = benign). Spaces in feature names become ``_``. Classification.
diabetes.csv
    scikit-learn's bundled Diabetes data (``load_diabetes(scaled=False)``;
    Efron et al. 2004, "Least Angle Regression"). 442 rows, raw (unscaled)
    features age, sex, bmi, bp, s1..s6 plus ``progression`` (disease
    progression one year after baseline). Columns that hold only whole
    numbers are written as integers. Regression.
churn.csv
    Synthetic customer-churn table (numpy ``default_rng(42)``), snapshot taken
    2025-01-01: 2,000 rows = 1,990 customers (C00001..C01990) plus 10 exact
    duplicate rows. Made to exercise messy real-world data: missing plan (~3%)
    and monthly_charges (~5%), two rare regions (< 1% each), ISO date
    strings, yes/no flags, free-text support tickets built from templates
    (~20% empty) and 5 rows with the target ``churned`` missing. ``churned``
    (~27% yes) is drawn from a logistic model (short tenure, many support
    calls, basic plan, no autopay and angry / cancellation tickets raise the
    churn odds), so it is learnable but noisy: a plain logistic regression
    scores roughly 0.75-0.85 accuracy.
churn_new.csv
    A later batch of the same table (snapshot 2025-07-01), 500 rows sorted by
    id: 100 existing, still-active customers with updated values (tenure +6
    months, some plan upgrades; charges, calls, ticket and churn re-drawn)
    and 400 new customers continuing the id numbering (C01991..). Slight
    distribution shift: per-plan charges +5% and a more premium plan mix,
    together ~10% higher monthly charges. No duplicates, no missing target.
churn_drift.csv
    A batch a year later (snapshot 2026-01-01), 1,000 new customers (C02391..) after the world
    changed: prices up 25 %, a competitor's launch (half a support call more on average, 1.5x the
    cancellation and billing complaints), mostly recent
    basic-plan sign-ups (churn about 55 % instead of 27 %), and a new region 'online' (12 %)
    never seen in training. What `mlw monitor` is shown catching in README.
churn_weeks.csv
    Eight weeks of sign-ups for the closed loop (`make loop`), 600 labelled rows a week
    (C10001..; column ``week``). From week 5 the world changes: prices up 20 % and more
    premium sign-ups (the features shift), and churn follows the columns differently
    (``WEEKS_CHANGE``: price now drives churn, autopay no longer keeps customers, support
    calls matter less), so a model trained before the change loses quality until it is
    retrained on the new weeks.
movies.csv, ratings.csv
    A movie-ratings set for recommendations (public ones forbid redistribution): 500 movies
    (``movie_id``, ``title``, ``genres`` joined by ``|``, ``year``) and 38,592 ratings
    (``user_id``, ``movie_id``, ``rating`` 0.5-5 in halves, ``timestamp`` 2018-2025) by 800
    users. Real latent structure (``make_movies``): user tastes over genres, movie quality,
    power-law popularity and activity, users rate what they are likely to see.
churn.db
    SQLite database with one table ``customers`` holding exactly the rows of
    churn.csv (missing values stored as NULL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

OUT_DIR = Path(__file__).resolve().parent
SEED = 42

CHURN_COLUMNS = [
    "customer_id",
    "signup_date",
    "plan",
    "region",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "autopay",
    "last_ticket",
    "churned",
]


def _clean_name(name: str) -> str:
    return str(name).strip().replace("/", "_").replace(" ", "_")


def _whole_numbers_as_int(df: pd.DataFrame) -> pd.DataFrame:
    """Write float columns holding only whole numbers as integers (127.0 -> 127)."""
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]) and (df[col] == df[col].round()).all():
            df[col] = df[col].astype("int64")
    return df


def _write_csv(df: pd.DataFrame, name: str) -> None:
    df.to_csv(OUT_DIR / name, index=False, encoding="utf-8", lineterminator="\n")


# --------------------------------------------------------------------------
# scikit-learn bundled datasets
# --------------------------------------------------------------------------


def make_iris() -> pd.DataFrame:
    bunch = load_iris(as_frame=True)
    df = bunch.data.copy()
    df.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    df["species"] = [str(bunch.target_names[i]) for i in bunch.target]
    return df


def make_wine() -> pd.DataFrame:
    bunch = load_wine(as_frame=True)
    df = bunch.data.copy()
    df.columns = [_clean_name(c) for c in df.columns]
    df["cultivar"] = [str(bunch.target_names[i]) for i in bunch.target]
    return _whole_numbers_as_int(df)


def make_breast_cancer() -> pd.DataFrame:
    bunch = load_breast_cancer(as_frame=True)
    df = bunch.data.copy()
    df.columns = [_clean_name(c) for c in df.columns]
    # sklearn: 0 = malignant, 1 = benign
    df["diagnosis"] = [str(bunch.target_names[i]) for i in bunch.target]
    return df


def make_diabetes() -> pd.DataFrame:
    bunch = load_diabetes(as_frame=True, scaled=False)
    df = bunch.data.copy()
    df.columns = [_clean_name(c) for c in df.columns]
    df["progression"] = bunch.target
    return _whole_numbers_as_int(df)


# --------------------------------------------------------------------------
# synthetic churn data
# --------------------------------------------------------------------------

PLANS = np.array(["basic", "standard", "premium"])
PLAN_MEAN_CHARGE = {"basic": 32.0, "standard": 62.0, "premium": 96.0}
PLAN_SD_CHARGE = {"basic": 6.0, "standard": 9.0, "premium": 12.0}

# two rare regions (< 1% each)
REGIONS = np.array(
    ["north", "south", "east", "west", "central", "coastal", "islands", "overseas"]
)
REGION_P = np.array([0.22, 0.20, 0.17, 0.16, 0.13, 0.105, 0.009, 0.006])

# ticket kind -> (probability, churn-logit effect)
TICKET_KINDS = {
    "cancel": (0.10, 2.2),
    "billing_angry": (0.17, 1.3),
    "technical": (0.22, 0.4),
    "question": (0.24, 0.0),
    "upgrade": (0.14, -0.7),
    "praise": (0.13, -1.1),
}

VOCAB = {
    "angry": ["angry", "furious", "very upset", "frustrated", "unhappy", "annoyed"],
    "invoice": ["last invoice", "this month's bill", "latest statement", "the invoice"],
    "fee": ["late fee", "activation fee", "roaming charge", "service fee", "overage charge"],
    "service": ["service", "contract", "subscription", "account", "plan"],
    "competitor": ["a competitor", "another provider", "a cheaper provider", "a rival offer"],
    "reason": [
        "too expensive",
        "moving abroad",
        "found a better deal",
        "too many outages",
        "not using it anymore",
    ],
    "device": ["router", "modem", "set-top box", "mobile app", "web portal"],
    "problem": [
        "keeps disconnecting",
        "not working",
        "very slow",
        "shows an error",
        "won't start",
    ],
    "fix": [
        "sent replacement",
        "reset remotely",
        "escalated to tier 2",
        "walked through restart",
        "issue resolved",
    ],
    "topic": [
        "data allowance",
        "international calls",
        "payment options",
        "contract end date",
        "paperless billing",
        "family discount",
    ],
    "change": [
        "updated payment method",
        "changed billing address",
        "requested copy of invoice",
        "updated contact email",
    ],
    "addon": ["premium plan", "faster speed tier", "extra data", "streaming bundle"],
    "praise": ["quick help", "friendly support", "fast fix", "clear explanation"],
    "feature": ["new router", "faster speeds", "mobile app", "streaming bundle"],
}

TEMPLATES = {
    "cancel": [
        "wants to cancel {service}, {reason}",
        "asked how to cancel {service}",
        "threatened to switch to {competitor}, customer {angry}",
        "requested cancellation, {reason}",
        "cancel {service} at end of month, {reason}",
    ],
    "billing_angry": [
        "billing error on {invoice}, customer {angry}",
        "charged twice on {invoice}, customer {angry}",
        "disputes {fee} on {invoice}",
        "unexpected {fee}, customer {angry}",
        "customer {angry} about price increase",
    ],
    "technical": [
        "{device} {problem}, {fix}",
        "internet outage reported, {fix}",
        "{device} {problem}",
        "slow speeds in the evening, {fix}",
    ],
    "question": [
        "asked about {topic}",
        "{change}",
        "question about {topic}",
        "{change}, no other issues",
    ],
    "upgrade": [
        "asked about upgrading to {addon}",
        "interested in {addon}",
        "wants a quote for {addon}",
        "upgraded to {addon}",
    ],
    "praise": [
        "thanked agent for {praise}",
        "happy with {feature}",
        "customer satisfied, thanked for {praise}",
        "praised {feature}",
    ],
}

CHURN_INTERCEPT = -2.4


def _ticket_text(rng: np.random.Generator, kind: str) -> str:
    template = TEMPLATES[kind][rng.integers(len(TEMPLATES[kind]))]
    words = {}
    for key, options in VOCAB.items():
        if "{" + key + "}" in template:
            words[key] = options[rng.integers(len(options))]
    return template.format(**words)


def _tenure_months(signup: pd.Series, snapshot: pd.Timestamp) -> np.ndarray:
    months = (snapshot.year - signup.dt.year) * 12 + (snapshot.month - signup.dt.month)
    months = months - (signup.dt.day > snapshot.day).astype(int)
    return np.clip(months.to_numpy(), 0, None).astype(np.int64)


def _draw_charges(rng, plans: np.ndarray, mult: float) -> np.ndarray:
    mean = np.array([PLAN_MEAN_CHARGE[p] for p in plans]) * mult
    sd = np.array([PLAN_SD_CHARGE[p] for p in plans])
    return np.round(np.clip(rng.normal(mean, sd), 15.0, None), 2)


def _draw_activity(rng, df: pd.DataFrame, charge_mult: float, extra_calls: float = 0.0,
                   complaint_mult: float = 1.0, concept: dict | None = None) -> pd.DataFrame:
    """Draw charges, calls, autopay, ticket and churn given plan and tenure. `extra_calls` and
    `complaint_mult` (cancellation and billing tickets) change the world for churn_drift.csv;
    `concept` changes how churn follows from the columns (churn_weeks.csv's later weeks)."""
    n = len(df)
    plans = df["plan"].to_numpy()
    tenure = df["tenure_months"].to_numpy()
    monthly = _draw_charges(rng, plans, charge_mult)
    noise = rng.normal(1.0, 0.04, n)
    total = np.round(tenure * monthly * noise, 2)
    basic = plans == "basic"
    calls = rng.poisson(1.2 + 0.6 * basic + extra_calls, n).astype(np.int64)
    p_autopay = np.clip(0.45 + 0.006 * tenure, 0, 0.85)
    autopay = np.where(rng.random(n) < p_autopay, "yes", "no")

    kinds = np.array(list(TICKET_KINDS))
    base_p = np.array([v[0] for v in TICKET_KINDS.values()])
    base_p[:2] *= complaint_mult
    kind = []
    for c in calls:
        # more support calls -> more complaints / cancellations
        p = base_p.copy()
        p[:3] *= 1.0 + 0.25 * c
        kind.append(str(kinds[rng.choice(len(kinds), p=p / p.sum())]))
    kind = np.array(kind)
    text = np.array([_ticket_text(rng, k) for k in kind], dtype=object)
    no_ticket = rng.random(n) < 0.20
    text[no_ticket] = None
    effect = np.array([TICKET_KINDS[k][1] for k in kind])
    effect[no_ticket] = 0.0

    c = {"tenure": -0.07, "calls": 0.65, "basic": 0.9, "premium": -0.5, "no_autopay": 0.9, "price": 0.0,
         "intercept": CHURN_INTERCEPT, **(concept or {})}
    logit = (
        c["intercept"]
        + c["tenure"] * (tenure - 24)
        + c["calls"] * (calls - 1.5)
        + c["basic"] * basic
        + c["premium"] * (plans == "premium")
        + c["no_autopay"] * (autopay == "no")
        + c["price"] * (monthly - 60)
        + effect
    )
    p_churn = 1.0 / (1.0 + np.exp(-logit))
    churned = np.where(rng.random(n) < p_churn, "yes", "no")

    out = df.copy()
    out["monthly_charges"] = monthly
    out["total_charges"] = total
    out["support_calls"] = calls
    out["autopay"] = autopay
    out["last_ticket"] = text
    out["churned"] = churned
    return out


def _new_customers(rng, first_id, n, snapshot, start, end, plan_p, charge_mult, region_p=REGION_P,
                   regions=REGIONS, **world):
    ids = [f"C{i:05d}" for i in range(first_id, first_id + n)]
    days = (pd.Timestamp(end) - pd.Timestamp(start)).days
    signup = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days + 1, n), unit="D")
    signup = pd.Series(signup)
    df = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup.dt.strftime("%Y-%m-%d"),
            "plan": PLANS[rng.choice(3, size=n, p=plan_p)],
            "region": regions[rng.choice(len(regions), size=n, p=region_p)],
            "tenure_months": _tenure_months(signup, snapshot),
        }
    )
    return _draw_activity(rng, df, charge_mult, **world)


def _add_missing(rng, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    n = len(df)
    df["plan"] = df["plan"].astype(object)
    df.loc[rng.random(n) < 0.03, "plan"] = None
    df.loc[rng.random(n) < 0.05, "monthly_charges"] = np.nan
    return df


def make_churn(rng: np.random.Generator):
    n_unique = 1990
    snapshot = pd.Timestamp("2025-01-01")
    clean = _new_customers(
        rng, 1, n_unique, snapshot, "2021-01-01", "2024-12-31",
        plan_p=[0.40, 0.38, 0.22], charge_mult=1.0,
    )
    df = _add_missing(rng, clean)
    df["churned"] = df["churned"].astype(object)
    df.loc[np.sort(rng.choice(n_unique, 5, replace=False)), "churned"] = None

    # ~10 exact duplicate rows, each re-inserted at a random later position
    dup_src = np.sort(rng.choice(n_unique, 10, replace=False))
    dup_pos = dup_src + rng.integers(1, 200, len(dup_src)) + 0.5
    pos = np.concatenate([np.arange(n_unique, dtype=float), dup_pos])
    churn = pd.concat([df, df.iloc[dup_src]], ignore_index=True)
    churn = churn.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)
    return churn[CHURN_COLUMNS], clean


def make_churn_new(rng: np.random.Generator, clean: pd.DataFrame) -> pd.DataFrame:
    snapshot = pd.Timestamp("2025-07-01")
    charge_mult = 1.05

    # ~100 returning customers (still active at the first snapshot), six months
    # on: tenure +6, charges / calls / ticket re-drawn, churn may flip to "yes"
    active = np.flatnonzero(clean["churned"].to_numpy() == "no")
    idx = np.sort(rng.choice(active, 100, replace=False))
    old = clean.iloc[idx][["customer_id", "signup_date", "plan", "region"]].copy()
    old = old.reset_index(drop=True)
    signup = pd.to_datetime(old["signup_date"])
    old["tenure_months"] = _tenure_months(signup, snapshot)
    upgrade = rng.random(len(old)) < 0.15
    old.loc[upgrade & (old["plan"] == "standard"), "plan"] = "premium"
    old.loc[upgrade & (old["plan"] == "basic"), "plan"] = "standard"
    old = _draw_activity(rng, old, charge_mult)

    first_id = int(clean["customer_id"].str[1:].astype(int).max()) + 1
    new = _new_customers(
        rng, first_id, 400, snapshot, "2021-01-01", "2025-06-30",
        plan_p=[0.35, 0.37, 0.28], charge_mult=charge_mult,
    )
    batch = pd.concat([old, new], ignore_index=True)
    batch = _add_missing(rng, batch)
    batch = batch.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return batch[CHURN_COLUMNS]


def make_churn_drift(rng: np.random.Generator, first_id: int) -> pd.DataFrame:
    """A batch a year on (snapshot 2026-01-01) after the world changed: a price rise (+25 %), a
    competitor's launch (more support calls, more cancellation and billing complaints, so churn
    jumps), mostly recent basic-plan sign-ups, and a new sign-up channel, region 'online', that
    training never saw."""
    snapshot = pd.Timestamp("2026-01-01")
    regions = np.append(REGIONS, "online")
    region_p = np.append(REGION_P * 0.88, 0.12)
    batch = _new_customers(
        rng, first_id, 1000, snapshot, "2024-07-01", "2025-12-31",
        plan_p=[0.58, 0.30, 0.12], charge_mult=1.25, region_p=region_p / region_p.sum(), regions=regions,
        extra_calls=0.5, complaint_mult=1.5,
    )
    return _add_missing(rng, batch)[CHURN_COLUMNS]


# How churn follows from the columns after the change in churn_weeks.csv: a competitor undercuts
# on price, so expensive plans now lose customers (price matters, premium no longer protects),
# paying by autopay no longer keeps anyone, and support calls matter less.
WEEKS_CHANGE = {"price": 0.06, "premium": 0.6, "no_autopay": 0.0, "calls": 0.25, "basic": -0.6,
                "intercept": -1.5}


def make_churn_weeks(rng: np.random.Generator, first_id: int, weeks: int = 8, per_week: int = 600,
                     change_at: int = 5) -> pd.DataFrame:
    """Sign-ups week by week (`week` 1..weeks), each row labelled; from week `change_at` on the world
    changes: prices +20 % and more premium sign-ups (the features shift) and WEEKS_CHANGE (the
    relation between the features and churn shifts)."""
    frames = []
    for week in range(1, weeks + 1):
        changed = week >= change_at
        end = pd.Timestamp("2025-01-05") + pd.Timedelta(weeks=week)
        frame = _new_customers(
            rng, first_id + (week - 1) * per_week, per_week, end, "2021-01-01", str((end - pd.Timedelta(days=1)).date()),
            plan_p=[0.30, 0.35, 0.35] if changed else [0.40, 0.38, 0.22], charge_mult=1.2 if changed else 1.0,
            concept=WEEKS_CHANGE if changed else None)
        frame = _add_missing(rng, frame)[CHURN_COLUMNS]
        frames.append(frame.assign(week=week))
    return pd.concat(frames, ignore_index=True)


GENRES = ["Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Fantasy", "Horror",
          "Romance", "Sci-Fi", "Thriller"]
TITLE_WORDS = (["Silent", "Last", "Golden", "Broken", "Hidden", "Red", "Lost", "Wild", "Dark", "Bright", "Frozen",
                "Endless", "Secret", "Burning", "Distant", "Little", "Midnight", "Hollow", "Iron", "Paper"],
               ["River", "Kingdom", "Garden", "Signal", "Harbor", "Orchard", "Machine", "Summer", "Empire", "Island",
                "Letter", "Mountain", "Station", "Shadow", "Voyage", "Circus", "Winter", "Forest", "Mirror", "Crown"])


def make_movies(rng: np.random.Generator, n_items: int = 500, n_users: int = 800, choice_taste: float = 2.5,
                power: float = 0.9, activity: float = 3.6, max_activity: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Movie metadata and ratings with real latent structure: each movie has one to three genres,
    a quality and a popularity that follows a power law (a few blockbusters, a long tail); each
    user has tastes over the genres, a bias (generous or strict) and an activity that is itself
    heavy-tailed. A user rates what they are likely to see (popular films, and films of genres they
    like); the rating is 3.3 + user bias + movie quality + taste, plus noise, on a 0.5-5 scale in
    halves. Timestamps run over 2018-2025: each user joins on a day and rates over the months after."""
    genres = np.array(GENRES)
    item_genres = np.zeros((n_items, len(GENRES)))
    for i in range(n_items):
        item_genres[i, rng.choice(len(GENRES), rng.integers(1, 4), replace=False)] = 1.0
    popularity = 1.0 / np.arange(1, n_items + 1) ** power
    popularity = popularity[rng.permutation(n_items)]
    quality = rng.normal(0.0, 0.45, n_items)
    words = [(a, b) for a in TITLE_WORDS[0] for b in TITLE_WORDS[1]]
    picks = rng.choice(len(words), n_items)
    years = rng.integers(1965, 2025, n_items)
    titles, seen_titles = [], set()
    for k, year in zip(picks, years):
        title = f"The {words[k][0]} {words[k][1]}"
        while (title, year) in seen_titles:  # a remake in the same year: a sequel instead
            title += " II"
        seen_titles.add((title, year))
        titles.append(f"{title} ({year})")
    movies = pd.DataFrame({
        "movie_id": np.arange(1, n_items + 1),
        "title": titles,
        "genres": ["|".join(genres[row > 0]) for row in item_genres],
        "year": years,
    })
    tastes = rng.normal(0.0, 1.0, (n_users, len(GENRES)))
    affinity = tastes @ (item_genres / item_genres.sum(axis=1, keepdims=True)).T  # (users, items)
    user_bias = rng.normal(0.0, 0.35, n_users)
    activity = np.clip(np.round(rng.lognormal(activity, 0.8, n_users)), 12, min(max_activity, n_items)).astype(int)
    joined = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 6 * 365, n_users), unit="D")
    last = pd.Timestamp("2025-12-31")
    rows = []
    for u in range(n_users):
        weight = popularity * np.exp(choice_taste * affinity[u])
        seen = rng.choice(n_items, activity[u], replace=False, p=weight / weight.sum())
        raw = 3.3 + user_bias[u] + quality[seen] + 0.7 * affinity[u, seen] + rng.normal(0.0, 0.55, len(seen))
        rating = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
        days = np.sort(np.minimum(rng.exponential(120.0, len(seen)), (last - joined[u]).days - 1))
        stamps = joined[u] + pd.to_timedelta(days * 86400 + rng.integers(0, 86400, len(seen)), unit="s")
        rows.append(pd.DataFrame({"user_id": u + 1, "movie_id": seen + 1, "rating": rating,
                                  "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S")}))
    ratings = pd.concat(rows, ignore_index=True).sort_values(["timestamp", "user_id"], kind="stable")
    return movies, ratings.reset_index(drop=True)


def write_sqlite(df: pd.DataFrame, name: str) -> None:
    path = OUT_DIR / name
    for p in (path, path.with_name(path.name + "-journal")):
        if p.exists():
            p.unlink()
    types = {
        "tenure_months": "INTEGER",
        "support_calls": "INTEGER",
        "monthly_charges": "REAL",
        "total_charges": "REAL",
    }
    cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in df.columns)
    rows = [
        tuple(None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row)
        for row in df.itertuples(index=False, name=None)
    ]
    con = sqlite3.connect(path)
    try:
        con.execute(f"CREATE TABLE customers ({cols})")
        placeholders = ", ".join("?" for _ in df.columns)
        con.executemany(f"INSERT INTO customers VALUES ({placeholders})", rows)
        con.commit()
    finally:
        con.close()


def main() -> None:
    _write_csv(make_iris(), "iris.csv")
    _write_csv(make_wine(), "wine.csv")
    _write_csv(make_breast_cancer(), "breast_cancer.csv")
    _write_csv(make_diabetes(), "diabetes.csv")

    rng = np.random.default_rng(SEED)
    churn, clean = make_churn(rng)
    _write_csv(churn, "churn.csv")
    write_sqlite(churn, "churn.db")
    new = make_churn_new(rng, clean)
    _write_csv(new, "churn_new.csv")
    first_id = int(new["customer_id"].str[1:].astype(int).max()) + 1
    _write_csv(make_churn_drift(np.random.default_rng(SEED + 1), first_id), "churn_drift.csv")
    _write_csv(make_churn_weeks(np.random.default_rng(SEED + 2), 10001), "churn_weeks.csv")
    movies, ratings = make_movies(np.random.default_rng(SEED + 3))
    _write_csv(movies, "movies.csv")
    _write_csv(ratings, "ratings.csv")

    for name in sorted(p.name for p in OUT_DIR.iterdir() if p.suffix in {".csv", ".db"}):
        print(f"wrote {OUT_DIR / name}")


if __name__ == "__main__":
    main()
