"""Function words per language: they say nothing about where a question or an answer came from.

Written for this project, short on purpose: articles, pronouns, prepositions, conjunctions,
auxiliaries, question words and a few very common adverbs. `words.guess_language` also counts
them to tell Latin-script (and Cyrillic) languages apart. Keys are the codes `words` uses.
Lower case; compared after lower-casing. Chinese and Japanese are in `words` (units that are
cut out of runs of characters, not whole words).
"""

from __future__ import annotations


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _other(text: str) -> frozenset[str]:
    """A list for a language other than English, less one-letter words: content words are
    3 letters or more anyway, and English has "a" and "I" and the "s" of "What's", which
    would count for French, Spanish or Italian when the language is guessed."""
    return frozenset(word for word in text.split() if len(word) > 1)


STOPWORDS: dict[str, frozenset[str]] = {
    # The list grounding.py has always used; English results depend on it staying as it is.
    "en": _set(
        """
        a about above after again against all also am an and any are as at be because been
        before being below between both but by can could did do does doing done down during
        each either else ever every few for from further had has have having he her here hers
        herself him himself his how however i if in into is it its itself just least less let
        like many may me might more most much must my myself neither no nor not now of off
        often on once one only or other others our ours ourselves out over own per perhaps
        quite rather same shall she should since so some such than that the their theirs them
        themselves then there these they this those though through thus to too under until up
        upon us very was we were what whatever when where whether which while who whom whose
        why will with within without would yes yet you your yours yourself yourselves
        """
    ),
    "de": _other(
        """
        der die das den dem des ein eine einen einem einer eines und oder aber doch sondern
        denn ist sind war waren wird werden wurde wurden worden sein bin bist seid hat haben
        hatte hatten habe kann können konnte muss müssen darf dürfen soll sollen will wollen
        mag nicht kein keine keinen auch noch schon nur sehr so wie wo was wer wen wem wessen
        wann warum wieso weshalb welche welcher welches welchen welchem wofür woher wohin womit
        woran worauf wovon wieviel viele ich du er sie es wir ihr mich dich sich uns euch ihn
        ihm ihnen mein meine dein seine seiner seinen ihre ihren ihrem unser in im an am auf
        aus bei beim mit nach von vom zu zum zur für über unter vor hinter neben zwischen durch
        gegen ohne um bis seit dass ob wenn als weil dann da dort hier dies diese dieser dieses
        diesen jene jeder jede jedes alle man etwa eigentlich
        """
    ),
    "fr": _other(
        """
        le la les l un une des du de d et ou mais donc ni car est sont était étaient été être
        sera ont a avait avaient avoir fait il elle ils elles on je tu nous vous me te se lui
        leur leurs son sa ses mon ma mes ton ta tes notre nos votre vos ce cet cette ces cela
        ça qui que qu quoi dont où quand comment pourquoi combien quel quelle quels quelles
        lequel laquelle dans en sur sous avec sans pour par chez vers entre depuis pendant
        avant après au aux ne pas plus très aussi bien tout tous toute toutes y s n c j
        """
    ),
    "es": _other(
        """
        el la los las lo un una unos unas y e o u pero sino ni de del al a en con por para
        sin sobre entre desde hasta hacia durante es son era eran fue fueron ser estar está
        están estaba ha han había haber hay tiene tienen yo tú él ella ellos ellas nosotros
        vosotros usted ustedes me te se le les nos mi mis tu tus su sus nuestro nuestra este
        esta estos estas ese esa esos esas esto eso que qué quien quién quienes cual cuál
        cuales cuándo cuando cómo como dónde donde cuánto cuánta cuántos cuántas porque
        no sí muy más también ya todo todos toda todas
        """
    ),
    "it": _other(
        """
        il lo la i gli le l un uno una e ed o ma né di del dello della dei degli delle a
        al allo alla ai agli alle da dal dalla dai in nel nello nella nei negli nelle su sul
        sulla con per tra fra è sono era erano fu stato stata essere ha hanno aveva avere io
        tu lui lei noi voi loro mi ti si ci vi ne suo sua suoi sue mio mia questo questa
        questi queste quello quella quelli che chi cosa cui quale quali quando come dove
        quanto quanta quanti quante perché non più molto anche già tutto tutti tutta tutte
        """
    ),
    "pt": _other(
        """
        o a os as um uma uns umas e ou mas nem de do da dos das em no na nos nas ao aos à às
        por pelo pela pelos pelas para com sem sobre entre desde até é são era eram foi foram
        ser estar está estão estava tem têm tinha ter há eu tu ele ela eles elas nós vós você
        vocês me te se lhe lhes meu minha seu sua seus suas nosso nossa este esta estes estas
        esse essa esses essas isto isso aquele aquela que quê quem qual quais quando como onde
        quanto quanta quantos quantas porque não sim muito mais também já todo todos toda todas
        """
    ),
    "nl": _other(
        """
        de het een en of maar want dus van in op aan met voor door bij naar uit over onder
        tussen tot sinds zonder om is zijn was waren wordt worden werd werden ben bent heeft
        hebben had hadden kan kunnen moet moeten zal zullen wil ik jij je hij zij ze wij we
        jullie u mij mijn zijn haar hun ons onze dit dat deze die wie wat waar wanneer waarom
        hoe hoeveel welk welke niet geen ook nog al wel zeer heel er hier daar
        """
    ),
    "sv": _other(
        """
        en ett den det de och eller men utan av i på till från med för om under över mellan
        genom efter före hos vid är var varit vara blir blev har hade kan kunde ska skulle
        vill jag du han hon vi ni dem honom henne oss mig dig sig min mitt mina din sin sitt
        sina hans hennes deras vår denna detta dessa som vem vad var när varför hur vilken
        vilket vilka inte ingen också redan bara mycket här där
        """
    ),
    "pl": _other(
        """
        i a o u w we z ze na do od po za przez przy pod nad przed między dla bez oraz lub
        albo ale czy że jest są był była było byli były być ma mają miał miała mieć może
        można ja ty on ona ono my wy oni one mnie mi cię ci mu jej jego ich nas nam was
        wam się mój moja swój swoja ta to te tego tej tym który która które kto co gdzie
        kiedy jak dlaczego ile jaki jaka jakie nie tak już też bardzo
        """
    ),
    "ru": _other(
        """
        и а но или да же ли бы не ни в во на с со к ко у о об от до из за по под над при
        про для без через между перед после около я ты он она оно мы вы они меня мне тебя
        тебе его ему её ее ей их им нас нам вас вам себя себе свой своя своё свои мой моя
        твой наш ваш этот эта это эти тот та то те который которая которое которые кто кого
        кем что чего чём чем где когда как какой какая какое какие каков какова каково
        сколько почему зачем откуда куда чей есть был была было были быть будет может так
        уже ещё еще тоже также очень весь вся всё все там тут здесь тогда
        """
    ),
}
