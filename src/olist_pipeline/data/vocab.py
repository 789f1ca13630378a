"""Synthetic vocabulary and geography for the generator.

Nothing here is copied from the Olist data set (CC BY-NC-SA): states, their
zip ranges, capitals and coordinates are public geography; category keys,
town names and review phrases are invented, in the data set's style
(lower-case Portuguese, ``snake_case`` category keys).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    code: str
    capital: str
    lat: float  # capital
    lng: float
    # Zip prefix ranges (inclusive) of the state; the capital holds the start of the first.
    ranges: tuple[tuple[int, int], ...]
    capital_block: int  # how many prefixes from the first range's start are the capital
    customers: int  # relative weight of customers (PROFILE.md: top states)
    sellers: int  # relative weight of sellers
    capital_share: float  # share of the state's customers living in the capital


STATES: tuple[State, ...] = (
    State("SP", "sao paulo", -23.55, -46.63, ((1000, 19999),), 5000, 41746, 1849, 0.37),
    State("RJ", "rio de janeiro", -22.91, -43.17, ((20000, 28999),), 4000, 12852, 171, 0.53),
    State("MG", "belo horizonte", -19.92, -43.94, ((30000, 39999),), 2000, 11635, 244, 0.24),
    State("RS", "porto alegre", -30.03, -51.23, ((90000, 99999),), 2000, 5466, 129, 0.25),
    State("PR", "curitiba", -25.43, -49.27, ((80000, 87999),), 2000, 5045, 349, 0.30),
    State("SC", "florianopolis", -27.59, -48.55, ((88000, 89999),), 500, 3637, 190, 0.15),
    State("BA", "salvador", -12.97, -38.51, ((40000, 48999),), 2000, 3380, 19, 0.36),
    State("DF", "brasilia", -15.79, -47.88, ((70000, 72799), (73000, 73699)), 2800, 2140, 30, 1.0),
    State("ES", "vitoria", -20.32, -40.34, ((29000, 29999),), 100, 2033, 23, 0.20),
    State("GO", "goiania", -16.69, -49.25, ((72800, 72999), (73700, 76799)), 100, 2020, 40, 0.35),
    State("PE", "recife", -8.05, -34.88, ((50000, 56999),), 1000, 1652, 9, 0.40),
    State("CE", "fortaleza", -3.73, -38.52, ((60000, 63999),), 900, 1336, 13, 0.55),
    State("PA", "belem", -1.46, -48.49, ((66000, 68899),), 200, 975, 1, 0.45),
    State("MT", "cuiaba", -15.60, -56.10, ((78000, 78899),), 100, 907, 4, 0.30),
    State("MA", "sao luis", -2.53, -44.30, ((65000, 65999),), 100, 747, 1, 0.40),
    State("MS", "campo grande", -20.47, -54.62, ((79000, 79999),), 150, 715, 5, 0.55),
    State("PB", "joao pessoa", -7.12, -34.86, ((58000, 58999),), 100, 536, 6, 0.45),
    State("PI", "teresina", -5.09, -42.80, ((64000, 64999),), 100, 495, 1, 0.50),
    State("RN", "natal", -5.79, -35.21, ((59000, 59999),), 100, 485, 5, 0.50),
    State("AL", "maceio", -9.67, -35.74, ((57000, 57999),), 100, 413, 1, 0.55),
    State("SE", "aracaju", -10.91, -37.07, ((49000, 49999),), 100, 350, 2, 0.55),
    State("TO", "palmas", -10.18, -48.33, ((77000, 77999),), 50, 280, 1, 0.30),
    State("RO", "porto velho", -8.76, -63.90, ((76800, 76999),), 20, 253, 2, 0.40),
    State("AM", "manaus", -3.12, -60.02, ((69000, 69299), (69400, 69899)), 100, 148, 1, 0.85),
    State("AC", "rio branco", -9.97, -67.81, ((69900, 69999),), 20, 81, 1, 0.60),
    State("AP", "macapa", 0.03, -51.07, ((68900, 68999),), 30, 68, 0, 0.80),
    State("RR", "boa vista", 2.82, -60.67, ((69300, 69399),), 30, 46, 0, 0.85),
)

# Fernando de Noronha (PE): lies east of a naive mainland bounding box, and is Brazil.
NORONHA_ZIP = 53990
NORONHA = (-3.85, -32.42)

# Brazil including its Atlantic islands; points outside are "out of country".
BRAZIL_BOX = (-34.0, 5.5, -74.2, -28.5)  # lat_min, lat_max, lng_min, lng_max

# Places abroad where mis-geocoded prefixes land (Portugal, Spain, Argentina, ...).
ABROAD = (
    (41.15, -8.61),
    (38.72, -9.14),
    (42.24, -8.72),
    (28.10, -15.41),
    (-34.60, -58.38),
    (-36.62, -64.29),
    (14.60, 120.98),
)

_TOWN_FIRST = (
    "santa", "sao", "nova", "bom", "campo", "porto", "vila", "alto", "boa", "rio",
    "lagoa", "pedra", "serra", "monte", "barra", "ponte", "cachoeira", "morro",
)  # fmt: skip
_TOWN_SECOND = (
    "jardim", "esperanca", "vista", "cruz", "aurora", "fe", "conceicao", "alegre",
    "verde", "grande", "bonita", "branca", "azul", "dourada", "formosa", "do campo",
    "joao", "jose", "luzia", "barbara", "rita", "helena",
)  # fmt: skip
_TOWN_SUFFIX = ("", "", "", "do sul", "do norte", "da serra", "de minas", "do oeste", "paulista")

# Words the data set writes both with and without accents.
ACCENTS = {
    "sao": "são",
    "joao": "joão",
    "jose": "josé",
    "conceicao": "conceição",
    "esperanca": "esperança",
    "fe": "fé",
    "florianopolis": "florianópolis",
    "brasilia": "brasília",
    "vitoria": "vitória",
    "goiania": "goiânia",
    "belem": "belém",
    "cuiaba": "cuiabá",
    "luis": "luís",
    "maceio": "maceió",
    "macapa": "macapá",
}


def accented(city: str) -> str:
    return " ".join(ACCENTS.get(w, w) for w in city.split(" "))


def town_name(code: int) -> str:
    a = _TOWN_FIRST[code % len(_TOWN_FIRST)]
    b = _TOWN_SECOND[(code // len(_TOWN_FIRST)) % len(_TOWN_SECOND)]
    c = _TOWN_SUFFIX[(code // (len(_TOWN_FIRST) * len(_TOWN_SECOND))) % len(_TOWN_SUFFIX)]
    return f"{a} {b} {c}".strip()


# Invented category keys (Portuguese, snake_case) and their English names.
_CATEGORY_PARTS = (
    ("casa", "home"), ("esporte", "sports"), ("beleza", "beauty"), ("moveis", "furniture"),
    ("utilidades", "housewares"), ("carro", "car"), ("informatica", "computers"),
    ("brinquedos", "toys"), ("relogios", "watches"), ("telefonia", "phones"),
    ("ferramentas", "tools"), ("cozinha", "kitchen"), ("jardim", "garden"), ("bebes", "baby"),
    ("papelaria", "stationery"), ("perfumaria", "perfumery"), ("pet", "pet"),
    ("eletronicos", "electronics"), ("moda", "fashion"), ("livros", "books"),
    ("musica", "music"), ("games", "games"), ("malas", "luggage"), ("iluminacao", "lighting"),
)  # fmt: skip
_CATEGORY_KINDS = (
    ("", ""), ("acessorios", "accessories"), ("decoracao", "decor"), ("infantil", "kids"),
)  # fmt: skip


def categories(n: int = 73) -> tuple[tuple[str, str], ...]:
    """``n`` distinct (Portuguese key, English name) pairs, most popular first."""
    out: list[tuple[str, str]] = []
    for kind_pt, kind_en in _CATEGORY_KINDS:
        for pt, en in _CATEGORY_PARTS:
            if len(out) == n:
                return tuple(out)
            key = f"{pt}_{kind_pt}" if kind_pt else pt
            name = f"{en}_{kind_en}" if kind_en else en
            out.append((key, name))
    return tuple(out)


REVIEW_TITLES = (
    "recomendo", "Recomendo", "otimo", "Ótimo produto", "Muito bom", "Excelente",
    "Super recomendo", "Bom", "Chegou rápido", "Não recebi", "Péssimo", "Produto com defeito",
    "Satisfeito", "Nota 10", "10", "Veio errado", "Demorou",
)  # fmt: skip
REVIEW_GOOD = (
    "Produto chegou antes do prazo", "Muito bom, recomendo", "Entrega rápida e produto de "
    "qualidade", "Tudo certo com a compra", "Gostei muito do produto", "Vendedor atencioso",
    "Produto conforme o anúncio", "Chegou bem embalado", "Excelente custo benefício",
    "Comprei pela lojas lannister e recebi tudo certinho",
)  # fmt: skip
REVIEW_BAD = (
    "Ainda não recebi o produto", "Produto veio com defeito", "Veio diferente do anúncio",
    "Entrega atrasou muito", "Comprei dois e recebi só um", "Não recomendo esta loja",
    "Péssimo atendimento, ninguém responde", "A embalagem chegou rasgada",
)  # fmt: skip
REVIEW_TAIL = (
    "Obrigado", "Parabéns", "Voltarei a comprar", "Aguardo retorno", "Estou decepcionado",
    "Nota 10", "2 dias antes do previsto",
)  # fmt: skip
