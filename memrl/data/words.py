"""The word lists the task generators draw from (one copy; the generators slice them).

The generators sample from these lists with seeded RNGs, so a list's order and length fix
which tasks a seed gives: extend a list only at its end, and only where every generator
slices it (``NAMES[:20]``), or seeded tasks change.
"""

NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi",
         "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor"]
COMPANIES = ["Acme", "Borealis", "Cobalt", "Dynamo", "Everest", "Fjord", "Granite", "Helix", "Ion", "Juniper"]
CITIES = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Cairo", "Quito", "Hanoi", "Perth", "Porto", "Dakar", "Riga"]
JOBS = ["baker", "pilot", "nurse", "lawyer", "plumber", "teacher", "chemist", "farmer", "editor", "welder"]
PETS = ["cat", "dog", "parrot", "turtle", "rabbit", "hamster", "goldfish", "lizard", "ferret"]
SPORTS = ["tennis", "chess", "rugby", "golf", "hockey", "cricket", "volleyball", "squash"]

# The smaller world of the chat-style generators (FactRecall, the Memory-R1 dialogues).
PEOPLE_20, CITIES_10, JOBS_8, PETS_8 = NAMES[:20], CITIES[:10], JOBS[:8], PETS[:8]
