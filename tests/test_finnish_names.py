"""The allative of Finnish first names: common names written out with their correct forms.

Every expected form below was written by hand from the Finnish norms (Kotus, *Etunimien
taivutus*; Kielikello 2/2003), not produced by the code. ``None`` marks a name whose form
is not certain (more than one in use, or a foreign name): the gift then gets a title that
needs no inflection, never a guessed form.
"""

from __future__ import annotations

import unicodedata

import pytest

from sointu.delivery.finnish import RULES, allative, name_table

# Every name of issue 10, each with its required form.
ISSUE_NAMES = {
    "Pekka": "Pekalle", "Matti": "Matille", "Heikki": "Heikille", "Mikko": "Mikolle",
    "Jukka": "Jukalle", "Antti": "Antille", "Markku": "Markulle", "Seppo": "Sepolle",
    "Riitta": "Riitalle", "Hilkka": "Hilkalle", "Lotta": "Lotalle", "Arttu": "Artulle",
    "Satu": "Sadulle", "Johannes": "Johannekselle", "Markus": "Markukselle",
    "Tuomas": "Tuomakselle", "Elias": "Eliakselle", "Iiris": "Iirikselle",
    "Maija": "Maijalle", "Anna": "Annalle", "Kimmo": "Kimmolle", "Sanna": "Sannalle",
    "Outi": "Outille", "Kaarin": "Kaarinille", "Mikael": "Mikaelille",
    "Jukka-Pekka": "Jukka-Pekalle", "Hanna-Kaisa": "Hanna-Kaisalle",
}

MEN = {
    # kk, pp, tt alternate (also after a consonant: Hilkka, Terttu; and in -e: Atte)
    "Jaakko": "Jaakolle", "Erkki": "Erkille", "Veikko": "Veikolle", "Pentti": "Pentille",
    "Martti": "Martille", "Pertti": "Pertille", "Jarkko": "Jarkolle", "Ilkka": "Ilkalle",
    "Voitto": "Voitolle", "Otto": "Otolle", "Atte": "Atelle", "Santtu": "Santulle",
    "Iisakki": "Iisakille", "Eerikki": "Eerikille", "Teppo": "Tepolle", "Aatto": "Aatolle",
    "Altti": "Altille", "Iikka": "Iikalle",
    # tt not before the last vowel: nothing alternates
    "Valtteri": "Valtterille", "Petteri": "Petterille",
    # a single k, p, t or a cluster with one does not alternate in a name
    "Jouko": "Joukolle", "Kauko": "Kaukolle", "Aki": "Akille", "Aku": "Akulle",
    "Topi": "Topille", "Unto": "Untolle", "Into": "Intolle", "Eetu": "Eetulle",
    "Aatu": "Aatulle", "Aapo": "Aapolle", "Marko": "Markolle", "Jyrki": "Jyrkille",
    "Arto": "Artolle", "Ilpo": "Ilpolle", "Urpo": "Urpolle", "Touko": "Toukolle",
    "Veeti": "Veetille", "Kyösti": "Kyöstille", "Risto": "Ristolle", "Esko": "Eskolle",
    "Asko": "Askolle", "Taisto": "Taistolle",
    # vowel-final, nothing to alternate
    "Juhani": "Juhanille", "Olavi": "Olaville", "Antero": "Anterolle",
    "Tapani": "Tapanille", "Tapio": "Tapiolle", "Kalevi": "Kaleville",
    "Ilmari": "Ilmarille", "Sakari": "Sakarille", "Juha": "Juhalle", "Timo": "Timolle",
    "Kari": "Karille", "Aleksi": "Aleksille", "Jari": "Jarille", "Oskari": "Oskarille",
    "Kalervo": "Kalervolle", "Petri": "Petrille", "Mika": "Mikalle", "Lauri": "Laurille",
    "Hannu": "Hannulle", "Ville": "Villelle", "Janne": "Jannelle", "Ari": "Arille",
    "Ensio": "Ensiolle", "Sami": "Samille", "Juho": "Juholle", "Eero": "Eerolle",
    "Jani": "Janille", "Onni": "Onnille", "Eemeli": "Eemelille", "Samuli": "Samulille",
    "Jussi": "Jussille", "Jorma": "Jormalle", "Harri": "Harrille", "Teemu": "Teemulle",
    "Eino": "Einolle", "Jarmo": "Jarmolle", "Veli": "Velille", "Esa": "Esalle",
    "Raimo": "Raimolle", "Pasi": "Pasille", "Viljami": "Viljamille", "Tommi": "Tommille",
    "Leo": "Leolle", "Väinö": "Väinölle", "Yrjö": "Yrjölle", "Kai": "Kaille",
    "Reijo": "Reijolle", "Tuomo": "Tuomolle", "Niilo": "Niilolle", "Paavo": "Paavolle",
    "Urho": "Urholle", "Jere": "Jerelle", "Niko": "Nikolle", "Leevi": "Leeville",
    "Miika": "Miikalle", "Vesa": "Vesalle", "Jesse": "Jesselle", "Kalle": "Kallelle",
    "Olli": "Ollille", "Aarne": "Aarnelle", "Toivo": "Toivolle", "Arvo": "Arvolle",
    "Veikka": "Veikalle", "Nooa": "Nooalle", "Henri": "Henrille", "Ismo": "Ismolle",
    # Finnish -s names take -kse-
    "Matias": "Matiakselle", "Joonas": "Joonakselle", "Rasmus": "Rasmukselle",
    "Hannes": "Hannekselle", "Julius": "Juliukselle", "Aulis": "Aulikselle",
    "Eelis": "Eelikselle", "Eljas": "Eljakselle", "Aatos": "Aatokselle",
    "Matteus": "Matteukselle", "Niklas": "Niklakselle", "Esaias": "Esaiakselle",
    "Andreas": "Andreakselle", "Mattias": "Mattiakselle", "Lukas": "Lukakselle",
    "Jonas": "Jonakselle", "Linus": "Linukselle", "Mooses": "Moosekselle",
    "Tobias": "Tobiakselle", "Mathias": "Mathiakselle", "Magnus": "Magnukselle",
    # ... but Armas like the word armas : armaan, and English James with a silent e
    "Armas": "Armaalle", "James": "Jamesille",
    # a final l, m, n, r or k takes -ille
    "Daniel": "Danielille", "Samuel": "Samuelille", "Joel": "Joelille",
    "Oliver": "Oliverille", "Kevin": "Kevinille", "Aleksander": "Aleksanderille",
    "Anton": "Antonille", "Emil": "Emilille", "Eemil": "Eemilille", "Aksel": "Akselille",
    "Alvar": "Alvarille", "Oskar": "Oskarille", "Henrik": "Henrikille",
    "Erik": "Erikille", "Patrik": "Patrikille", "Kristian": "Kristianille",
    "Benjamin": "Benjaminille", "Aaron": "Aaronille", "Viktor": "Viktorille",
    "Valter": "Valterille", "Aslak": "Aslakille", "Allan": "Allanille",
    # from the table
    "David": "Davidille", "Gustav": "Gustaville", "Alfred": "Alfredille",
    "Hans": "Hansille", "Eevert": "Eevertille",
}

WOMEN = {
    # kk, pp, tt alternate
    "Marjatta": "Marjatalle", "Marketta": "Marketalle", "Annikki": "Annikille",
    "Tuulikki": "Tuulikille", "Sinikka": "Sinikalle", "Riikka": "Riikalle",
    "Mirkka": "Mirkalle", "Pirkko": "Pirkolle", "Sirkka": "Sirkalle",
    "Terttu": "Tertulle", "Kerttu": "Kertulle", "Vappu": "Vapulle",
    "Orvokki": "Orvokille", "Kyllikki": "Kyllikille", "Vuokko": "Vuokolle",
    "Anitta": "Anitalle", "Henriikka": "Henriikalle",
    # a single k, p, t or a cluster with one does not alternate
    "Kati": "Katille", "Reeta": "Reetalle", "Rita": "Ritalle", "Anita": "Anitalle",
    "Heta": "Hetalle", "Helka": "Helkalle", "Sirpa": "Sirpalle", "Virpi": "Virpille",
    "Ilta": "Iltalle", "Varpu": "Varpulle", "Ulpu": "Ulpulle", "Taika": "Taikalle",
    "Miska": "Miskalle", "Kirsti": "Kirstille", "Annika": "Annikalle",
    "Erika": "Erikalle", "Monika": "Monikalle", "Kaarina": "Kaarinalle",
    # vowel-final
    "Maria": "Marialle", "Helena": "Helenalle", "Johanna": "Johannalle",
    "Anneli": "Annelille", "Liisa": "Liisalle", "Sofia": "Sofialle",
    "Elina": "Elinalle", "Tuula": "Tuulalle", "Päivi": "Päiville", "Pirjo": "Pirjolle",
    "Ritva": "Ritvalle", "Tarja": "Tarjalle", "Sari": "Sarille", "Anne": "Annelle",
    "Minna": "Minnalle", "Leena": "Leenalle", "Tiina": "Tiinalle", "Kirsi": "Kirsille",
    "Eija": "Eijalle", "Arja": "Arjalle", "Seija": "Seijalle", "Marja": "Marjalle",
    "Hannele": "Hannelelle", "Jenni": "Jennille", "Henna": "Hennalle",
    "Katja": "Katjalle", "Laura": "Lauralle", "Noora": "Nooralle", "Heidi": "Heidille",
    "Hanna": "Hannalle", "Emmi": "Emmille", "Veera": "Veeralle", "Aino": "Ainolle",
    "Eveliina": "Eveliinalle", "Helmi": "Helmille", "Aada": "Aadalle",
    "Merja": "Merjalle", "Raija": "Raijalle", "Irene": "Irenelle", "Tuija": "Tuijalle",
    "Ulla": "Ullalle", "Elsa": "Elsalle", "Ella": "Ellalle", "Emma": "Emmalle",
    "Venla": "Venlalle", "Iida": "Iidalle", "Ronja": "Ronjalle", "Pinja": "Pinjalle",
    "Lilja": "Liljalle", "Olivia": "Olivialle", "Aurora": "Auroralle",
    "Amanda": "Amandalle", "Katariina": "Katariinalle", "Kristiina": "Kristiinalle",
    "Susanna": "Susannalle", "Heli": "Helille", "Mervi": "Merville", "Tuuli": "Tuulille",
    "Lumi": "Lumille", "Lempi": "Lempille", "Meri": "Merille", "Hilda": "Hildalle",
    "Lahja": "Lahjalle", "Tyyne": "Tyynelle", "Aune": "Aunelle", "Inkeri": "Inkerille",
    "Kaisa": "Kaisalle", "Eeva": "Eevalle", "Milla": "Millalle", "Nelli": "Nellille",
    "Anu": "Anulle", "Taru": "Tarulle", "Aili": "Ailille", "Hely": "Helylle",
    "Ylvä": "Ylvälle", "Mari": "Marille", "Riina": "Riinalle", "Kaija": "Kaijalle",
    "Tanja": "Tanjalle", "Jaana": "Jaanalle", "Paula": "Paulalle", "Pia": "Pialle",
    "Mia": "Mialle", "Saara": "Saaralle", "Suvi": "Suville", "Rauha": "Rauhalle",
    "Aila": "Ailalle", "Sisko": "Siskolle", "Alisa": "Alisalle", "Senja": "Senjalle",
    "Åsa": "Åsalle", "Chloé": "Chloélle",
    # -s and consonant-final
    "Agnes": "Agnekselle", "Iines": "Iinekselle", "Jasmin": "Jasminille",
    "Raakel": "Raakelille", "Miriam": "Miriamille", "Karin": "Karinille",
    # from the table
    "Birgitta": "Birgitalle", "Ingrid": "Ingridille", "Astrid": "Astridille",
    "Margit": "Margitille",
}

# Names whose form is not certain: the title is written without an ending.
UNKNOWN = [
    "Klaus", "Dennis", "Aleksis", "Luukas", "Sointu", "Sampo", "Ahti", "Säde", "Sade",
    "Tuike", "Aarre", "Pilvi", "Tähti", "Lotte",
    "Anette", "Janette", "Babette",  # French -ette
    "Thomas", "Charles", "Jacques", "Marcus", "Travis", "Miles", "Iris", "Louis",
    "Denis", "Ines", "Doris", "Chris", "Felix",  # foreign -s, -x
    "Rebekka", "Charlotta", "Kitty",  # a double stop in a foreign name
    "Olivier", "Ruth", "Max", "Liz", "Edith",  # foreign endings
]

ALL = {**ISSUE_NAMES, **MEN, **WOMEN}


def test_the_list_is_long_and_has_every_name_of_the_issue():
    assert len(ALL) == len(ISSUE_NAMES) + len(MEN) + len(WOMEN)  # no name twice
    assert len(ALL) >= 150
    assert len(ALL) + len(UNKNOWN) >= 250
    assert not set(ALL) & set(UNKNOWN)


@pytest.mark.parametrize("name, expected", sorted(ALL.items()))
def test_allative_of_common_names(name, expected):
    result = allative(name)
    assert result.form == expected, f"{name}: {result.form} ({result.why})"
    assert result.how in ("table", "rule")


@pytest.mark.parametrize("name", UNKNOWN)
def test_uncertain_names_are_unknown_never_guessed(name):
    result = allative(name)
    assert result.form is None and result.how == "unknown"
    assert result.why  # a reason for the summary line


@pytest.mark.parametrize("name, expected", [
    ("MAIJA", "MAIJALLE"), ("PEKKA", "PEKALLE"), ("SATU", "SADULLE"),
    ("JUKKA-PEKKA", "JUKKA-PEKALLE"), ("pekka", "pekalle"), ("maija-liisa", "maija-liisalle"),
    ("Jukka-pekka", "Jukka-pekalle"), ("TUOMAS", "TUOMAKSELLE"), ("  Matti ", "Matille"),
    ("Anna-Liisa", "Anna-Liisalle"), ("Veli-Matti", "Veli-Matille"),
    ("Ari-Pekka", "Ari-Pekalle"), ("Marja-Terttu", "Marja-Tertulle"),
    ("Nieminen", "Niemiselle"),
])
def test_capitals_double_names_and_stem_types(name, expected):
    assert allative(name).form == expected


def test_decomposed_letters_give_the_composed_form():
    assert allative(unicodedata.normalize("NFD", "Väinö")).form == "Väinölle"
    assert allative(unicodedata.normalize("NFD", "Säde")).form is None


@pytest.mark.parametrize("name", ["", "   ", "123", "--", "Maija!", "Ma1ja", "J.",
                                  "Jukka-", "-Pekka", "O'Brien", "Jukka--Pekka"])
def test_not_a_plain_name_is_unknown(name):
    result = allative(name)
    assert result.form is None and result.how == "unknown"


def test_a_double_name_with_an_uncertain_last_part_is_unknown():
    assert allative("Anna-Säde").form is None
    assert allative("Säde-Anna").form == "Säde-Annalle"


def test_the_table_is_well_formed():
    known, unknown = name_table()
    assert len(known) >= 20 and len(unknown) >= 20
    assert not set(known) & set(unknown)
    for name, form in known.items():
        assert form.endswith("lle") and form[:2].casefold() == name[:2], name
        assert allative(name.capitalize()).how == "table"
    for name in unknown:
        assert allative(name.capitalize()).how == "unknown"


def test_every_rule_is_used_by_a_name_above():
    """The rule table has no dead rows: each rule decides at least one listed name."""
    used = set()
    for name in [*ALL, *UNKNOWN, "Nieminen"]:
        word = name.split("-")[-1].lower()
        for i, rule in enumerate(RULES):
            if rule.pattern.search(word):
                used.add(i)
                break
    assert used == set(range(len(RULES)))
