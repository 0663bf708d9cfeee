"""Reference tables for :mod:`mpi.demo.synthetic`: names, nicknames, streets, postcodes, phones.

Every list of names is ordered from most to least common within its group, and the
generator draws from it with a Zipf-like skew, so the first entries (SMITH, JONES, KHAN,
PATEL, Mohammed, Olivia) are common and the last ones rare. The groups follow the mix of
a West Yorkshire population: English, Scottish, Welsh and Irish names, South Asian
(Pakistani and Bangladeshi, Indian, Goan), Polish and other Eastern European, West
African, Caribbean, Chinese, Arabic and Somali names.

Lists are written as comma-separated text and split on import, to keep the tables
readable. Nothing here is a real person's data. Phone numbers come only from the ranges
Ofcom reserves for drama, so none can ring a real line.
"""

from __future__ import annotations


def _names(text: str) -> tuple[str, ...]:
    """Split comma-separated names, trimming whitespace and line breaks."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _variants(text: str) -> dict[str, tuple[str, ...]]:
    """Parse lines of ``Name: variant, variant`` into a table."""
    table: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        name, _, variants = line.partition(":")
        if name.strip():
            table[name.strip()] = _names(variants)
    return table


#: Name groups and their share of households in the region.
ORIGIN_WEIGHTS: dict[str, float] = {
    "british": 0.7,
    "south_asian_muslim": 0.12,
    "indian": 0.04,
    "eastern_european": 0.04,
    "west_african": 0.025,
    "caribbean": 0.02,
    "chinese": 0.02,
    "arabic_somali": 0.025,
}

# Family names, most common first. Polish surnames ending -ski/-cki/-dzki take
# -ska/-cka/-dzka for women.
FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "british": _names(
        """
        Smith, Jones, Taylor, Williams, Brown, Davies, Evans, Wilson, Thomas, Johnson, Roberts,
        Robinson, Thompson, Wright, Walker, White, Edwards, Hughes, Green, Hall, Lewis, Harris,
        Clarke, Jackson, Wood, Turner, Martin, Cooper, Hill, Ward, Morris, Moore, Clark, Lee, King,
        Baker, Harrison, Morgan, Allen, James, Scott, Phillips, Watson, Davis, Parker, Price,
        Bennett, Young, Griffiths, Mitchell, Kelly, Cook, Carter, Richardson, Bailey, Collins, Bell,
        Shaw, Murphy, Miller, Cox, Richards, Marshall, Anderson, Simpson, Ellis, Adams, Wilkinson,
        Foster, Chapman, Powell, Webb, Rogers, Gray, Mason, Hunt, Campbell, Matthews, Owen, Palmer,
        Holmes, Mills, Barnes, Knight, Lloyd, Butler, Russell, Barker, Fisher, Stevens, Jenkins,
        Murray, Dixon, Harvey, Graham, Pearson, Fletcher, Walsh, Gibson, Howard, Andrews, Stewart,
        Elliott, Reynolds, Saunders, Payne, Fox, Ford, Pearce, Day, Brooks, West, Lawrence, Cole,
        Atkinson, Bradley, Spencer, Dawson, Ball, Burton, O'Brien, Watts, Rose, Booth, Perry, Ryan,
        Grant, Wells, Armstrong, Francis, Rees, Hayes, Hart, Hudson, Newman, Barrett, Webster,
        Hunter, Gregory, Carr, Lowe, Page, Marsh, Riley, Dunn, Woods, Parsons, Berry, Stone, Reid,
        Holland, Hawkins, Harding, Porter, Robertson, Newton, Oliver, Reed, Kennedy, Williamson,
        Bird, Gardner, Dean, Lane, Cooke, Bates, Henderson, Parry, Burgess, Bishop, Walton, Burns,
        Nicholson, Shepherd, Ross, Cross, Long, Freeman, Warren, Nicholls, Hamilton, Byrne, Sutton,
        McDonald, Yates, Hodgson, Robson, Curtis, Hopkins, O'Connor, Harper, Coleman, Watkins, Moss,
        McCarthy, Chambers, O'Neill, Griffin, Sharp, Hardy, Wheeler, Potter, Osborne, Johnston,
        Gordon, Doyle, Wallace, Jordan, Hutchinson, Sykes, Greenwood, Haigh, Hirst, Priestley,
        Sugden, Crowther, Holroyd, Illingworth, Schofield, Lockwood, Ramsden, Hepworth, Firth,
        Mellor, Pickles, Rhodes, Ibbotson, Ackroyd, Pritchard, Vaughan, Bowen, Llewellyn, MacDonald,
        McLean, Fraser, Mackenzie, MacLeod, Cameron, Paterson, O'Sullivan, O'Reilly, Gallagher,
        Doherty, Lynch, Quinn, Brennan, Fitzgerald, O'Donnell, McGuinness, D'Arcy, Ní Bhriain,
        Brontë
        """
    ),
    "south_asian_muslim": _names(
        """
        Khan, Hussain, Ahmed, Ali, Akhtar, Iqbal, Mahmood, Shah, Rehman, Rahman, Butt, Malik, Aslam,
        Hussein, Javed, Anwar, Saleem, Mirza, Qureshi, Chaudhry, Raja, Sheikh, Siddiqui, Uddin,
        Miah, Islam, Choudhury, Ahmad, Zaman, Bashir, Nawaz, Riaz, Hanif, Sadiq, Yousaf
        """
    ),
    "indian": _names(
        """
        Patel, Singh, Sharma, Mistry, Gill, Sandhu, Kumar, Parmar, Chauhan, Dhillon, Sidhu, Bains,
        Grewal, Johal, Mehta, Joshi, Desai, Lal, Verma, Gupta, Rana, Dhaliwal, Sohal, Virdee,
        D'Souza, Fernandes, Pereira, D'Silva, Rodrigues, Naidoo
        """
    ),
    "eastern_european": _names(
        """
        Nowak, Kowalski, Wiśniewski, Wójcik, Kowalczyk, Kamiński, Lewandowski, Zieliński, Szymański,
        Woźniak, Dąbrowski, Kozłowski, Jankowski, Mazur, Kwiatkowski, Krawczyk, Piotrowski,
        Grabowski, Nowakowski, Pawłowski, Michalski, Król, Wieczorek, Jabłoński, Popescu, Ionescu,
        Popa, Kazlauskas, Petrauskas, Horváth, Novák, Shevchenko, Kovalenko
        """
    ),
    "west_african": _names(
        """
        Okafor, Adeyemi, Mensah, Okonkwo, Owusu, Eze, Boateng, Nwosu, Asante, Adebayo, Osei,
        Oladipo, Appiah, Ogunleye, Bello, Agyeman, Addo, Afolabi, Balogun, Okoro, Obi, Nwankwo,
        Danquah, Oyelaran, Ibrahim
        """
    ),
    "caribbean": _names(
        """
        Campbell, Brown, Williams, Smith, Johnson, Thomas, Francis, Clarke, Grant, Reid, Morgan,
        Henry, Lewis, Bailey, Richards, Gordon, Stewart, McKenzie, Forbes, Bennett, Samuels,
        Walters, Blake, Powell, Anglin, Gayle, Dacres, Barrett
        """
    ),
    "chinese": _names(
        """
        Chan, Wong, Li, Lee, Zhang, Wang, Chen, Liu, Lam, Cheung, Ho, Ng, Yang, Huang, Zhao, Wu,
        Zhou, Lau, Tang, Leung, Chow, Yip, Kwok, Tsang, Cheng, Lin, Xu, Sun, Ma, Hu
        """
    ),
    "arabic_somali": _names(
        """
        Mohamed, Ali, Hassan, Abdi, Ahmed, Farah, Hussein, Osman, Warsame, Jama, Yusuf, Omar,
        Ibrahim, Nur, Aden, Egal, Al-Hassan, Al-Amin, El-Sayed, Abdullah, Haddad, Mansour, Khalil,
        Nasser, Saleh
        """
    ),
}

#: Family names women take instead of their husband's in some groups, with the chance.
WIFE_OWN_SURNAMES: dict[str, tuple[tuple[str, ...], float]] = {
    "south_asian_muslim": (("Begum", "Bibi", "Akhtar", "Begum"), 0.35),
    "indian": (("Kaur",), 0.3),
}

#: Roots and endings of the long tail of rare English surnames (Ashworth, Thornley, ...).
RARE_SURNAME_ROOTS = _names(
    """
    Ash, Black, Brad, Whit, Hol, Ather, Thorn, Green, Ack, Bram, Cal, Mars, Sut, Crow, Hors, Wal,
    Stan, Ed, Har, Kings, Mid, Nor, Ship, Shack, Rams, Hep, Hem, Bur, Ding, Faw, Gars, Hud, Ling,
    Mot, Ott, Pen, Rish, Sal, Thack, Wel
    """
)
RARE_SURNAME_ENDINGS = _names(
    """
    ley, ton, worth, field, by, ham, shaw, well, wood, croft, thorpe, dale, stall, den, cliffe
    """
)

# Given names by sex; English names also by birth cohort (old: before 1960, mid: to 1994,
# young: from 1995).
BRITISH_GIVEN: dict[tuple[str, str], tuple[str, ...]] = {
    ("male", "old"): _names(
        """
        John, David, Michael, Peter, Robert, William, James, Brian, Alan, Kenneth, Anthony, Richard,
        Terence, George, Ronald, Keith, Christopher, Stephen, Derek, Barry, Colin, Raymond, Roy,
        Dennis, Geoffrey, Trevor, Malcolm, Graham, Frank, Harold, Arthur, Norman, Leslie, Stanley,
        Douglas, Gordon, Eric, Alfred, Ernest, Albert, Walter, Frederick, Edward, Thomas, Patrick,
        Philip, Roger, Gerald, Clifford, Dafydd, Hamish, Seamus
        """
    ),
    ("female", "old"): _names(
        """
        Margaret, Patricia, Mary, Susan, Jean, Christine, Elizabeth, Barbara, Sandra, Linda, Joan,
        Janet, Dorothy, Pauline, Carol, Kathleen, Irene, Valerie, Sheila, Maureen, Brenda, Eileen,
        Doreen, Ann, Anne, Jennifer, Gillian, Shirley, Joyce, Sylvia, Marjorie, Edna, Beryl, Hilda,
        Gladys, Elsie, Winifred, Audrey, Rita, June, Vera, Iris, Betty, Catherine, Frances,
        Rosemary, Judith, Bridget, Agnes, Renée
        """
    ),
    ("male", "mid"): _names(
        """
        David, Paul, Mark, Andrew, Michael, Richard, Stephen, Christopher, James, Daniel, Matthew,
        Robert, Lee, Darren, Craig, Gary, Wayne, Neil, Jason, Simon, Ian, Martin, Steven, Anthony,
        Jonathan, Thomas, Adam, Carl, Dean, Kevin, Scott, Stuart, Jamie, Ryan, Benjamin, Gareth,
        Rhys, Sean, Shaun, Liam, Ross, Alistair, Euan, Owen, Dominic, Nicholas, Philip, Graham, José
        """
    ),
    ("female", "mid"): _names(
        """
        Sarah, Claire, Nicola, Emma, Lisa, Joanne, Michelle, Helen, Samantha, Karen, Amanda, Rachel,
        Louise, Julie, Kelly, Laura, Rebecca, Gemma, Kirsty, Donna, Tracey, Dawn, Deborah, Alison,
        Catherine, Katherine, Victoria, Elizabeth, Stacey, Hayley, Natalie, Jennifer, Amy, Lucy,
        Charlotte, Zoë, Siobhan, Ceri, Angharad, Fiona, Kerry, Jane, Anne-Marie, Mary
        """
    ),
    ("male", "young"): _names(
        """
        Oliver, Jack, Harry, George, Noah, Charlie, Jacob, Thomas, Oscar, William, James, Leo,
        Alfie, Joshua, Freddie, Archie, Arthur, Henry, Ethan, Isaac, Theo, Alexander, Lucas, Max,
        Samuel, Logan, Daniel, Joseph, Dylan, Harrison, Callum, Tyler, Kai, Mason, Riley, Finley,
        Reuben, Lewis, Connor, Liam, Aidan, Evan, Rhys, Jayden, Toby, Ellis, Louie, Albie, Teddy,
        Elijah, Luca, Jude, Seán
        """
    ),
    ("female", "young"): _names(
        """
        Olivia, Amelia, Isla, Ava, Emily, Sophie, Grace, Mia, Poppy, Ella, Lily, Evie, Isabella,
        Sophia, Jessica, Freya, Chloe, Ruby, Daisy, Florence, Alice, Phoebe, Holly, Megan, Ellie,
        Lucy, Charlotte, Millie, Erin, Maisie, Scarlett, Hannah, Rosie, Eliza, Niamh, Caitlin,
        Amber, Lauren, Bethany, Courtney, Jade, Paige, Zoë, Chloé, Imogen, Harriet, Matilda, Willow,
        Esmé, Aoife, Ffion, Seren, Elsie
        """
    ),
}

GIVEN_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("south_asian_muslim", "male"): _names(
        """
        Mohammed, Muhammad, Ali, Ahmed, Imran, Adam, Zain, Ibrahim, Yusuf, Hamza, Bilal, Omar,
        Usman, Tariq, Asif, Khalid, Abdul, Hassan, Zubair, Shahid, Sajid, Nadeem, Aamir, Faisal,
        Rizwan, Kamran, Arif, Javed, Shabir, Rafiq, Mohammad, Ayaan, Musa, Zakariya
        """
    ),
    ("south_asian_muslim", "female"): _names(
        """
        Fatima, Ayesha, Aisha, Maryam, Zainab, Khadija, Amina, Hafsa, Sana, Saima, Nazia, Shazia,
        Rubina, Nasreen, Parveen, Samina, Yasmin, Bushra, Sadia, Rabia, Hira, Iqra, Mariam, Zara,
        Anaya, Aleena, Noor, Safiya, Halima, Ruksana, Shamima
        """
    ),
    ("indian", "male"): _names(
        """
        Arjun, Rohan, Raj, Sanjay, Vijay, Ravi, Anil, Sunil, Rajesh, Amit, Nikhil, Harpreet,
        Gurpreet, Jaswinder, Manjit, Kuldip, Sukhdev, Aarav, Vihaan, Dev, Krishna, Hardeep, Rakesh,
        Dilip, Pradeep, Kiran, Joseph, Francis
        """
    ),
    ("indian", "female"): _names(
        """
        Priya, Anjali, Neha, Pooja, Sunita, Anita, Kavita, Meena, Rekha, Parminder, Jaspreet,
        Harjit, Sukhjinder, Manpreet, Amrit, Simran, Diya, Aanya, Saanvi, Nisha, Asha, Geeta, Leela,
        Sangeeta, Maria
        """
    ),
    ("eastern_european", "male"): _names(
        """
        Łukasz, Piotr, Krzysztof, Tomasz, Paweł, Michał, Marcin, Jakub, Kamil, Mateusz, Adam, Marek,
        Andrzej, Grzegorz, Wojciech, Dawid, Bartosz, Szymon, Jan, Rafał, Aleksander, Mihai, Andrei,
        Ionuț, Vytautas, Jonas, Dmytro
        """
    ),
    ("eastern_european", "female"): _names(
        """
        Agnieszka, Anna, Katarzyna, Małgorzata, Magdalena, Joanna, Monika, Ewa, Karolina,
        Aleksandra, Natalia, Zuzanna, Julia, Maja, Zofia, Marta, Justyna, Paulina, Dorota, Ioana,
        Elena, Andreea, Daiva, Oksana, Olena
        """
    ),
    ("west_african", "male"): _names(
        """
        Emmanuel, David, Samuel, Daniel, Chukwuemeka, Oluwaseun, Adebayo, Babatunde, Emeka, Chinedu,
        Olumide, Tunde, Kwame, Kofi, Kwabena, Yaw, Kojo, Ikenna, Obinna, Femi, Segun, Ayodele,
        Joseph, Michael, Godfrey, Blessing
        """
    ),
    ("west_african", "female"): _names(
        """
        Grace, Blessing, Esther, Mercy, Chioma, Ngozi, Funmilayo, Folasade, Adaeze, Oluwatoyin,
        Yetunde, Abena, Akosua, Ama, Efua, Adwoa, Comfort, Precious, Favour, Gift, Patience, Deborah
        """
    ),
    ("caribbean", "male"): _names(
        """
        Winston, Desmond, Clive, Delroy, Errol, Leroy, Lloyd, Neville, Carlton, Courtney, Junior,
        Marlon, Andre, Tyrone, Jermaine, Dwayne, Kemar, Tyrese, Malachi, Isaiah, Elijah, Nathaniel,
        Joel, Michael
        """
    ),
    ("caribbean", "female"): _names(
        """
        Hyacinth, Marcia, Beverley, Pauline, Sonia, Yvonne, Lorna, Claudette, Gloria, Maxine,
        Jacqueline, Kerry-Ann, Shanice, Tanisha, Keisha, Aaliyah, Jada, Imani, Nia, Ebony,
        Chantelle, Precious
        """
    ),
    ("chinese", "male"): _names(
        """
        Wei, Jun, Hao, Ming, Jian, Lei, Tao, Yong, Zhi, Kevin, Jason, Michael, Ka-Wai, Wing-Kit,
        Chun-Hei, Zihan, Yuxuan, Haoran
        """
    ),
    ("chinese", "female"): _names(
        """
        Mei, Li, Xin, Ying, Hui, Jing, Yan, Lin, Xiaoling, Yuting, Wing-Yan, Siu-Man, Jenny, Amy,
        Grace, Vivian, Zoe
        """
    ),
    ("arabic_somali", "male"): _names(
        """
        Mohamed, Abdi, Abdullahi, Ahmed, Hassan, Hussein, Omar, Yusuf, Abdirahman, Abdulkadir,
        Khalid, Ibrahim, Ismail, Mustafa, Mahmoud, Karim, Samir, Tariq, Walid, Youssef, Hamza,
        Bilal, Ayman
        """
    ),
    ("arabic_somali", "female"): _names(
        """
        Amina, Fadumo, Hodan, Sahra, Ayan, Hibo, Ifrah, Nasra, Khadra, Faduma, Fatima, Layla,
        Mariam, Noor, Rania, Salma, Yasmin, Huda, Leila, Samira, Hanan, Iman
        """
    ),
}

#: Extra weight for names far more common than their rank alone suggests.
NAME_BOOST: dict[str, float] = {
    "Mohammed": 6.0,
    "Muhammad": 3.0,
    "Mohamed": 3.0,
    "Patel": 3.0,
    "Singh": 2.0,
}

#: Nicknames and spelling variants a clerk might record instead of the registered name,
#: one line per name: "Name: variant, variant".
NICKNAMES = _variants(
    """
Robert: Bob, Rob, Bobby, Robbie
Margaret: Peggy, Maggie, Meg
William: Bill, Will, Billy
Elizabeth: Liz, Beth, Betty, Lizzie
James: Jim, Jimmy, Jamie
John: Jack, Johnny, Jon
Michael: Mike, Mick, Micky
David: Dave, Davy
Richard: Rich, Dick, Rick, Richie
Anthony: Tony, Antony
Christopher: Chris, Kit
Stephen: Steve, Steven
Steven: Steve, Stephen
Thomas: Tom, Tommy
Edward: Ed, Eddie, Ted, Ned
Alexander: Alex, Sandy, Alec
Andrew: Andy, Drew
Daniel: Dan, Danny
Matthew: Matt
Jonathan: Jon, Jonny
Nicholas: Nick, Nicky
Benjamin: Ben
Samuel: Sam, Sammy
Joseph: Joe, Joey
Peter: Pete
Kenneth: Ken, Kenny
Terence: Terry, Terrence
Frederick: Fred
Freddie: Freddy, Fred
Albert: Bert, Bertie
Alfred: Alf, Alfie
Ronald: Ron, Ronnie
Raymond: Ray
Leslie: Les
Gerald: Gerry
Geoffrey: Geoff, Jeffrey
Harold: Harry
Henry: Harry, Hal
Charlie: Charles
Patrick: Pat, Paddy
Philip: Phil, Phillip
Douglas: Doug, Dougie
Walter: Wally
Ernest: Ernie
Stanley: Stan
Oliver: Ollie
Joshua: Josh
Jacob: Jake
Callum: Calum
Dafydd: David, Dai
Seamus: James
Sean: Shaun, Shawn
Shaun: Sean, Shawn
Seán: Sean, Shaun
Gareth: Gaz
Archie: Archibald
Patricia: Pat, Patsy, Trish
Susan: Sue, Susie
Catherine: Cath, Kate, Cathy, Katherine
Katherine: Kate, Kathy, Katie, Catherine
Christine: Chris, Chrissie
Jennifer: Jen, Jenny
Deborah: Debbie, Debra
Rebecca: Becky
Samantha: Sam, Sammie
Victoria: Vicky, Tori
Jacqueline: Jackie
Barbara: Babs
Dorothy: Dot, Dolly
Kathleen: Kath, Kathy
Gillian: Gill, Jill
Valerie: Val
Joanne: Jo, Joanna
Nicola: Nicky, Nikki
Amanda: Mandy
Louise: Lou
Charlotte: Lottie
Isabella: Bella, Izzy
Olivia: Liv
Amelia: Millie
Florence: Flo
Winifred: Winnie
Mary: Molly, Maria
Ann: Anne, Annie
Anne: Ann, Annie
Sarah: Sara, Sally
Zoë: Zoe
Chloé: Chloe
Esmé: Esme
Renée: Renee
Hayley: Haley
Lucy: Lucie
Ellie: Elle
Anne-Marie: Anne Marie, Annemarie
Kerry-Ann: Kerry Ann, Kerryann
Mohammed: Muhammad, Mohammad, Mo
Muhammad: Mohammed, Mohammad, Mo
Mohammad: Mohammed, Muhammad
Mohamed: Mohammed, Mohamud, Mo
Ahmed: Ahmad
Yusuf: Yousuf, Yousef
Ibrahim: Ebrahim
Omar: Umar
Usman: Osman
Abdullahi: Abdullah
Aisha: Ayesha, Aysha
Ayesha: Aisha
Fatima: Fatma, Fatimah
Maryam: Mariam, Miriam
Khadija: Khadijah
Zainab: Zaynab
Faduma: Fadumo
Łukasz: Lukasz, Luke
Piotr: Peter
Krzysztof: Chris, Krzys
Tomasz: Tom, Tomek
Paweł: Pawel, Paul
Michał: Michal, Michael
Jakub: Kuba, Jacob
Katarzyna: Kasia, Kate
Małgorzata: Gosia, Malgorzata
Agnieszka: Aga, Agnes
Aleksandra: Ola, Alexandra
Magdalena: Magda
Wojciech: Wojtek
Grzegorz: Greg
Ionuț: Ionut
Oluwaseun: Seun
Babatunde: Tunde
Chukwuemeka: Emeka
Oluwatoyin: Toyin
Funmilayo: Funmi
Folasade: Sade
Adaeze: Ada
Ka-Wai: Ka Wai, Kawai
Wing-Kit: Wing Kit
Chun-Hei: Chun Hei
Wing-Yan: Wing Yan
Siu-Man: Siu Man
"""
)

#: Postcode areas with their first and last district numbers and a share of addresses.
POSTCODE_DISTRICTS: tuple[tuple[str, int, int, float], ...] = (
    ("LS", 1, 29, 0.4),
    ("BD", 1, 24, 0.28),
    ("WF", 1, 17, 0.22),
    ("HX", 1, 7, 0.1),
)

#: Letters allowed in the two-letter unit of an inward code (never C I K M O V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

STREET_STEMS = _names(
    """
    Acacia, Beech, Birch, Cedar, Chestnut, Elm, Hawthorn, Hazel, Holly, Laurel, Maple, Oak, Rowan,
    Sycamore, Willow, Ash, Alder, Larch, Poplar, Yew, Victoria, Albert, Alexandra, Queen's, King's,
    Princess, Windsor, Balmoral, York, Lancaster, Cavendish, Clarence, Coronation, Jubilee, Regent,
    Wellington, Nelson, Marlborough, Church, Chapel, Mill, Station, School, Park, Moor, Green,
    Bridge, Market, High, North, South, West, East, New, Manor, Hall, Grange, Vicarage, Priory,
    Abbey, Castle, Spring, Brook, Beck, Wharf, Canal, Otley, Harrogate, Wakefield, Bradford,
    Halifax, Skipton, Keighley, Ilkley, Selby, Wetherby, Bingley, Shipley, Pudsey, Morley, Batley,
    Dewsbury, Castleford, Pontefract, Meadow, Orchard, Heather, Bracken, Fern, Primrose, Bluebell,
    Clover, Foxglove, Lavender, Fairview, Hillside, Woodland, Ridge, Cromwell, Brontë, Wordsworth,
    Tennyson, Byron, Priestley, Saltaire, St John's, St Mary's, Holme, Throstle, Cragg, Lister,
    Thornton
    """
)

#: Street types with their share, and the abbreviation clerks use.
STREET_TYPES: tuple[tuple[str, float, str], ...] = (
    ("Road", 0.28, "Rd"),
    ("Street", 0.2, "St"),
    ("Avenue", 0.08, "Ave"),
    ("Lane", 0.08, "Ln"),
    ("Close", 0.05, "Cl"),
    ("Drive", 0.05, "Dr"),
    ("Grove", 0.04, "Gr"),
    ("Crescent", 0.04, "Cres"),
    ("Way", 0.03, "Way"),
    ("Terrace", 0.04, "Terr"),
    ("Gardens", 0.03, "Gdns"),
    ("Court", 0.02, "Ct"),
    ("Place", 0.02, "Pl"),
    ("Mount", 0.02, "Mt"),
    ("View", 0.02, "View"),
    ("Fold", 0.01, "Fold"),
    ("Garth", 0.01, "Garth"),
    ("Croft", 0.01, "Croft"),
)

HOUSE_NAMES = _names(
    """
    Rose Cottage, The Old Vicarage, Ivy House, The Laurels, Moorview, Hill Top Farm,
    The Coach House, Orchard Cottage, Beck Side, Lilac Cottage
    """
)

#: Ofcom's drama ranges: prefix, first number and digit count of 1,000 numbers each.
PHONE_RANGES: tuple[tuple[str, int, int], ...] = (
    ("0113 496 ", 0, 4),
    ("07700 900", 0, 3),
    ("0114 496 ", 0, 4),
    ("0115 496 ", 0, 4),
    ("0116 496 ", 0, 4),
    ("0117 496 ", 0, 4),
    ("0118 496 ", 0, 4),
    ("0121 496 ", 0, 4),
    ("0131 496 ", 0, 4),
    ("0141 496 ", 0, 4),
    ("0151 496 ", 0, 4),
    ("0161 496 ", 0, 4),
    ("0191 498 ", 0, 4),
    ("020 7946 ", 0, 4),
    ("029 2018 ", 0, 4),
    ("01632 960", 0, 3),
    ("028 9649 ", 6000, 4),
)
