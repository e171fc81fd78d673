"""The pet columns of the CSV format (docs/pets.md): one row per pet, its owner repeated.

Registered with the header matching in ``columns``; ``CsvSource`` reads them apart from the
owner's values (``Row.pet``), so the owner's record, its hash and its survivorship never see
them, and a file without them reads exactly as before.
"""

from __future__ import annotations

# CSV column -> pet field (``crm.models.PET_FIELDS``); the two ids are keys, not fields
PET_COLUMN_FIELDS = {
    "pet_name": "name",
    "species": "species",
    "breed": "breed",
    "pet_sex": "sex",
    "pet_desexed": "desexed",
    "pet_date_of_birth": "date_of_birth",
    "pet_colour": "colour",
    "pet_weight": "weight_kg",
    "microchip": "microchip",
    "pet_status": "status",
    "pet_external_id": None,
    # this service's pet id, as ``crm export`` writes it
    "crm_pet_id": None,
}
PET_COLUMNS = tuple(PET_COLUMN_FIELDS)

# squashed header aliases (``columns.squash``): owner-ambiguous words such as "sex", "dob"
# or "name" stay the owner's
PET_ALIASES: dict[str, tuple[str, ...]] = {
    "pet_name": ("petname", "animalname", "patientpetname", "pet"),
    "species": ("species", "petspecies", "animaltype", "pettype", "animal"),
    "breed": ("breed", "petbreed"),
    "pet_sex": ("petsex", "animalsex", "petgender"),
    "pet_desexed": ("petdesexed", "desexed", "neutered", "spayed", "desexedneutered"),
    "pet_date_of_birth": (
        *("petdateofbirth", "petdob", "petbirthdate", "petbirthday"),
        *("animaldob", "animaldateofbirth", "animalbirthdate"),
    ),
    "pet_colour": ("petcolour", "petcolor", "colour", "color"),
    "pet_weight": ("petweight", "weight", "weightkg", "petweightkg"),
    "microchip": (
        "microchip",
        "microchipnumber",
        "microchipno",
        "microchipid",
        "chip",
        "chipnumber",
        "petmicrochip",
    ),
    "pet_status": ("petstatus", "animalstatus"),
    "pet_external_id": ("petexternalid", "petid", "animalid", "petrecordid"),
    "crm_pet_id": ("crmpetid",),
}
