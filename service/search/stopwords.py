"""Function words Meilisearch ignores in queries, as PostgreSQL's english and spanish
text search dictionaries do (so `the club` means `club` on both backends)."""

from __future__ import annotations

_ENGLISH = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with you your yours yourself yourselves
"""
_SPANISH = """
a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante
e el ella ellas ellos en entre era es esa esas ese eso esos esta estas este esto estos fue
ha hay la las le les lo los mas me mi mis muy nada ni no nos nosotros o os otra otro para pero
poco por porque que quien se ser si sin sobre su sus tambien te tiene todo tu tus un una uno
unos y ya yo
"""
STOP_WORDS = frozenset((_ENGLISH + _SPANISH).split())
