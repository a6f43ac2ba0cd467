"""The symptom list of the weekly questionnaire (Influenzanet's Q1, COVIDmeter's 21 options).

Each key is also a boolean column of ``weekly_reports``, so SQL can evaluate case definitions on typed
columns. The order is the order shown to citizens. Keys are stable: never rename one, add a new key and
a migration instead.
"""

SYMPTOMS: tuple[str, ...] = (
    "fever",
    "chills",
    "runny_nose",
    "sneezing",
    "sore_throat",
    "cough",
    "shortness_of_breath",
    "headache",
    "muscle_pain",
    "chest_pain",
    "tiredness",
    "loss_of_appetite",
    "coloured_sputum",
    "watery_eyes",
    "nausea",
    "vomiting",
    "diarrhoea",
    "stomach_ache",
    "loss_of_smell",
    "loss_of_taste",
    "nose_bleed",
    "rash",
    "other_symptom",
)
