"""Name pools for the synthetic population: (local script, Latin spelling) pairs.

Bengali names for Bangladesh areas (mostly Muslim names, some Hindu), Hindi names in
Devanagari for Indian areas.  Common names only; frequencies are not modelled beyond the
order of the lists (earlier entries are picked a little more often).
"""

from __future__ import annotations

Name = tuple[str, str]

BD_MALE: tuple[Name, ...] = (
    ("আব্দুর রহিম", "Abdur Rahim"), ("আব্দুল করিম", "Abdul Karim"), ("রফিকুল ইসলাম", "Rafiqul Islam"),
    ("জাহাঙ্গীর আলম", "Jahangir Alam"), ("মাহমুদুল হাসান", "Mahmudul Hasan"), ("শফিকুল ইসলাম", "Shafiqul Islam"),
    ("আনোয়ার হোসেন", "Anwar Hossain"), ("কামরুল হাসান", "Kamrul Hasan"), ("মোস্তফা কামাল", "Mostafa Kamal"),
    ("নুরুল আমিন", "Nurul Amin"), ("সাইফুল ইসলাম", "Saiful Islam"), ("আলমগীর হোসেন", "Alamgir Hossain"),
    ("হাবিবুর রহমান", "Habibur Rahman"), ("মিজানুর রহমান", "Mizanur Rahman"), ("আরিফ", "Arif"),
    ("রাসেল", "Rasel"), ("সুমন", "Sumon"), ("তানভীর", "Tanvir"), ("ইমরান", "Imran"), ("নাঈম", "Naim"),
    ("রাকিব", "Rakib"), ("সাকিব", "Sakib"), ("আবির", "Abir"), ("জুবায়ের", "Zubayer"), ("ফাহিম", "Fahim"),
    ("রিয়াদ", "Riyad"), ("মাসুদ", "Masud"), ("শাহীন", "Shahin"), ("বাবুল", "Babul"), ("হারুন", "Harun"),
)
BD_FEMALE: tuple[Name, ...] = (
    ("ফাতেমা", "Fatema"), ("আয়েশা", "Ayesha"), ("রহিমা", "Rahima"), ("সালমা", "Salma"), ("নাসরিন", "Nasrin"),
    ("শাহনাজ", "Shahnaz"), ("রোকসানা", "Roksana"), ("পারভীন", "Parvin"), ("হাসিনা", "Hasina"), ("রুমানা", "Rumana"),
    ("শিরিন", "Shirin"), ("নাজমা", "Nazma"), ("রেহানা", "Rehana"), ("খাদিজা", "Khadija"), ("জান্নাতুল", "Jannatul"),
    ("সুমাইয়া", "Sumaiya"), ("তানজিলা", "Tanjila"), ("মুন্নি", "Munni"), ("সাদিয়া", "Sadia"), ("নুসরাত", "Nusrat"),
    ("তাসলিমা", "Taslima"), ("রাবেয়া", "Rabeya"), ("কুলসুম", "Kulsum"), ("জরিনা", "Jorina"), ("সুমি", "Sumi"),
)
BD_HINDU_MALE: tuple[Name, ...] = (
    ("সুব্রত", "Subrata"), ("প্রদীপ", "Pradip"), ("বিশ্বজিৎ", "Biswajit"), ("গোপাল", "Gopal"), ("অমল", "Amal"),
    ("নিখিল", "Nikhil"), ("সুজন", "Sujon"), ("দীপক", "Dipak"), ("রতন", "Ratan"), ("তাপস", "Tapas"),
)
BD_HINDU_FEMALE: tuple[Name, ...] = (
    ("শিপ্রা", "Shipra"), ("মিতা", "Mita"), ("রীতা", "Rita"), ("কল্পনা", "Kalpana"), ("অনিমা", "Anima"),
    ("সুমিত্রা", "Sumitra"), ("দীপা", "Dipa"), ("লক্ষ্মী", "Lakshmi"), ("পূর্ণিমা", "Purnima"), ("মালতী", "Malati"),
)
BD_SURNAMES: tuple[Name, ...] = (
    ("হক", "Hoque"), ("শেখ", "Sheikh"), ("মোল্লা", "Molla"), ("সরদার", "Sardar"), ("গাজী", "Gazi"),
    ("হাওলাদার", "Howlader"), ("খান", "Khan"), ("চৌধুরী", "Chowdhury"), ("মন্ডল", "Mondal"), ("বিশ্বাস", "Biswas"),
    ("প্রামানিক", "Pramanik"), ("তালুকদার", "Talukder"), ("ভূঁইয়া", "Bhuiyan"), ("সিকদার", "Sikder"),
)
BD_HINDU_SURNAMES: tuple[Name, ...] = (
    ("দাস", "Das"), ("ঘোষ", "Ghosh"), ("সাহা", "Saha"), ("পাল", "Pal"), ("সরকার", "Sarkar"), ("রায়", "Roy"),
    ("দে", "Dey"), ("মজুমদার", "Majumder"),
)
BD_FEMALE_SUFFIX: tuple[Name, ...] = (("বেগম", "Begum"), ("খাতুন", "Khatun"), ("আক্তার", "Akter"))
BD_PARAS: tuple[Name, ...] = (
    ("উত্তর পাড়া", "Uttar Para"), ("দক্ষিণ পাড়া", "Dakshin Para"), ("পূর্ব পাড়া", "Purba Para"),
    ("পশ্চিম পাড়া", "Paschim Para"), ("মাঝি পাড়া", "Majhi Para"), ("বাজার পাড়া", "Bazar Para"),
    ("মসজিদ পাড়া", "Masjid Para"), ("স্কুল পাড়া", "School Para"),
)
BD_OCCUPATIONS: tuple[str, ...] = (
    "farmer", "day labourer", "fisher", "shopkeeper", "rickshaw puller", "garment worker", "teacher",
    "homemaker", "migrant worker", "driver", "tailor", "carpenter",
)

IN_MALE: tuple[Name, ...] = (
    ("राम", "Ram"), ("श्याम", "Shyam"), ("राजेश", "Rajesh"), ("सुरेश", "Suresh"), ("रमेश", "Ramesh"),
    ("महेश", "Mahesh"), ("दिनेश", "Dinesh"), ("मुकेश", "Mukesh"), ("संजय", "Sanjay"), ("अजय", "Ajay"),
    ("विजय", "Vijay"), ("राकेश", "Rakesh"), ("अनिल", "Anil"), ("सुनील", "Sunil"), ("मनोज", "Manoj"),
    ("प्रमोद", "Pramod"), ("विनोद", "Vinod"), ("राहुल", "Rahul"), ("अमित", "Amit"), ("रोहित", "Rohit"),
    ("आकाश", "Akash"), ("विकास", "Vikas"), ("अंकित", "Ankit"), ("गोपाल", "Gopal"), ("कृष्ण", "Krishna"),
    ("हरि", "Hari"), ("लखन", "Lakhan"), ("भरत", "Bharat"), ("आदित्य", "Aditya"), ("आर्यन", "Aryan"),
)
IN_FEMALE: tuple[Name, ...] = (
    ("सुनीता", "Sunita"), ("अनीता", "Anita"), ("गीता", "Geeta"), ("सीता", "Sita"), ("रीता", "Rita"),
    ("पूजा", "Pooja"), ("प्रिया", "Priya"), ("नेहा", "Neha"), ("किरण", "Kiran"), ("ममता", "Mamta"),
    ("सरिता", "Sarita"), ("कविता", "Kavita"), ("लक्ष्मी", "Laxmi"), ("राधा", "Radha"), ("उषा", "Usha"),
    ("आशा", "Asha"), ("मीना", "Meena"), ("रेखा", "Rekha"), ("सावित्री", "Savitri"), ("कमला", "Kamla"),
    ("अंजलि", "Anjali"), ("दिव्या", "Divya"), ("काजल", "Kajal"), ("सोनम", "Sonam"), ("रानी", "Rani"),
)
IN_SURNAMES: tuple[Name, ...] = (
    ("यादव", "Yadav"), ("शर्मा", "Sharma"), ("वर्मा", "Verma"), ("पटेल", "Patel"), ("सिंह", "Singh"),
    ("कुशवाहा", "Kushwaha"), ("अहिरवार", "Ahirwar"), ("लोधी", "Lodhi"), ("गोंड", "Gond"), ("साहू", "Sahu"),
    ("तिवारी", "Tiwari"), ("मिश्रा", "Mishra"), ("चौहान", "Chauhan"), ("प्रजापति", "Prajapati"), ("मीणा", "Meena"),
)
IN_TOLAS: tuple[Name, ...] = (
    ("ऊपर टोला", "Upar Tola"), ("नीचे टोला", "Neeche Tola"), ("मंदिर मोहल्ला", "Mandir Mohalla"),
    ("बाज़ार मोहल्ला", "Bazaar Mohalla"), ("स्कूल टोला", "School Tola"), ("तालाब टोला", "Talab Tola"),
)
IN_OCCUPATIONS: tuple[str, ...] = (
    "farmer", "agricultural labourer", "MGNREGA worker", "shopkeeper", "mason", "driver", "teacher",
    "homemaker", "anganwadi worker", "tailor", "dairy farmer", "migrant worker",
)
DISABILITIES: tuple[str, ...] = ("mobility", "visual", "hearing", "speech", "intellectual", "multiple")
