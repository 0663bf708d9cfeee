"""HL7 v2 over MLLP: the patient identity feed (ADT), PIX (QBP^Q23) and PDQ (QBP^Q22).

``mpi mllp`` runs :mod:`mpi.hl7.server`; :mod:`mpi.hl7.handler` maps each message to the
same register, withdraw, disclosure rule and audit as the HTTP APIs; :mod:`mpi.hl7.messages`
reads and writes HL7 with the ``hl7`` library.
"""
