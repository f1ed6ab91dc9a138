"""The reply to a step's "did it work?" question, judged in the context of that step.

While a check question is open, a reply means one of: the step **worked**, it **failed** (or
only partly helped), the user wants a **human**, or **other** (a question about the step,
"not tried yet", a new problem, small talk). When the words do not settle it the verdict is
**unsure**, with the way it leans: the assistant then says what it understood and asks once
more; it never declares success, moves on or escalates on an uncertain reading.

The judge reads the normalised text (:mod:`understanding.normalize`) with rules for the
families of Chinese answers (negation scope, 动词+不+补语, the problem restated with
还是 / 依然 / 照样 / 又, completion with 了 / 好了 / 能…了, double negatives such as 不卡了,
hedges, rhetorical 哪里好了), English and mixed replies, emoji, and the answer phrases an
editor gave the step in its playbook. Clauses are read in order and the **last decisive
signal wins** (「刚才不行，现在好了」 worked; 「好了一会儿又断了」 failed). Why rules and
not a classifier: README, "Step answers".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from understanding.normalize import normalize


class Verdict(str, Enum):
    WORKED = "worked"
    FAILED = "failed"
    HUMAN = "human"
    OTHER = "other"
    UNSURE = "unsure"


#: The labels of a step answer (the playbook's ``answers:`` keys and the labelled sets).
VERDICT_KEYS = (Verdict.WORKED.value, Verdict.FAILED.value, Verdict.HUMAN.value)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    #: for UNSURE: the reading it leans to (WORKED or FAILED), if any
    lean: Verdict | None = None
    #: the words that decided, for logs and the evaluation ("没+恢复", "still:还是")
    cue: str = ""
    #: OTHER because the user has not tried yet (「我试试」, 「稍等」)
    pending: bool = False
    #: OTHER because the user asks something (「清晰度在哪里调？」)
    question: bool = False
    #: the reply has words only an answer has (还是, 又, 没恢复, 能…了, 但是…): it belongs to
    #: the open step even when it also names a symptom of another problem
    tied: bool = False


@dataclass(frozen=True)
class StepContext:
    """What the judge knows of the open step: its question and the editor's phrases."""

    question: str = ""
    phrases: Mapping[str, Sequence[str]] = field(default_factory=dict)


# --- signals -------------------------------------------------------------------------------

POS, NEG, HUMAN, PENDING = "pos", "neg", "human", "pending"
STRONG, WEAK = 2, 1


@dataclass(frozen=True)
class Signal:
    kind: str
    start: int
    end: int
    strength: int
    cue: str


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


# The word tables keep one line per family, not one word per line.
# fmt: off
#: Words that negate what follows (checked right before a completion or symptom word).
NEGATORS = ["没有", "没能", "没法", "没办法", "木有", "莫得", "没得", "并没有", "并没", "并不", "还没有",
            "还没", "都没", "也没", "没", "未能", "未", "无法", "无从", "无处", "没处", "不能", "不会", "不可以", "不太", "不大",
            "不怎么", "没怎么", "不那么", "没那么", "没什么", "没啥", "不再", "没再", "不", "毫无",
            "无", "没人说", "没人反映", "没人喊", "根本没", "根本不", "压根没", "压根不", "一点都不", "一点也不", "完全不", "完全没",
            "哪里", "哪儿", "哪有", "哪能", "怎么可能", "not", "no", "never", "n't", "dont", "didnt",
            "doesnt", "isnt", "cant", "cannot", "wont"]
_NEGATED_BEFORE = re.compile(
    r"(?:" + _alt(NEGATORS) + r"|(?<![\u4e00-\u9fff])别|(?<=[我你就也都可])别|才能|才可以|才会)\s*(?:能|太|再|还|也|都|是|有|给|会|够|怎么|那么|很|咋|见|算|得|就|出现|出|发生|遇到|碰到|看到|老|老是|总是|总|一直|经常|动不动就|more|longer|any)?\s*$")

#: Things that, affirmed, mean the step worked (negated: it did not).
COMPLETIONS = [
    "解决", "搞定", "弄好", "修好", "整好", "调好", "弄妥", "搞好", "成功", "正常", "恢复", "找到", "找着",
    "找回", "找见", "看到了", "看见了", "连上", "接上", "连接上", "登上", "登进", "登录上", "进去了",
    "上去了", "发出去", "发上去", "传上去", "传好", "发布了", "发出来", "上传了", "发成", "播出来",
    "刷出来", "搜出来", "出来了", "开播了", "播了", "流畅", "顺畅", "顺滑", "丝滑", "稳定", "清晰",
    "好用", "好使", "管用", "有用", "有效", "奏效", "生效", "灵了", "通了", "顺了", "好了", "好啦",
    "好拉", "好咯", "好嘞", "好勒", "好多了", "好很多", "可以了", "可以啦", "可以的", "阔以", "行了",
    "行啦", "成了", "妥了", "能用", "可用", "用上了", "解锁", "解封", "回来了", "都在", "有效果",
    "有反应了", "ok", "okay", "works", "working", "worked", "work了", "fixed", "solved", "resolved",
    "sorted", "back to normal", "found", "recovered", "restored", "logged in", "connected", "smooth",
    "fine", "all good", "good now", "perfect", "great", "done", "success", "successful", "搞掂",
    "好嘞", "完美", "没毛病", "没问题", "没事了", "搞完了", "好利索", "能登", "能看", "能播", "能刷",
    "能搜", "能发", "能连", "能上", "能进", "能开播", "能直播", "能找", "能恢复", "可以用", "可以看",
    "可以播", "可以登", "可以搜", "可以发", "可以连", "可以上", "可以进", "可以开播", "可以直播",
    "能正常", "可以正常", "正常了", "登录了", "登陆了", "上线了", "稳了", "好转", "清楚了", "很快", "快了", "快多了", "变快", "秒开",
    "秒进", "uploaded", "posted", "published", "it worked", "good", "差不多了", "差不多好了",
    "差不多可以了", "差不多吧", "差不多啦", "妥妥", "稳稳的", "没少", "一个不少", "一张不少",
    "就进了", "一次就进", "很稳", "挺稳", "都很稳", "一个都没少", "一张都没少", "一条都没少", "一点都没少", "都没少", "什么都没少", "修复", "排除了",
    "飞起", "看得到", "看得见", "找得到", "登得上", "连得上", "打得开", "用得了", "登得进", "finally in",
    "i'm in", "im in", "got in", "yes", "很顺", "挺顺", "顺利", "秒出", "还原", "复原", "翻到", "能打开", "打开了", "都回来", "正常播放",
    "恢复正常", "恢复了正常", "正常使用", "正常登录", "完成", "已经登录", "已登录", "登录进去", "登录到了",
    "顺多了", "流畅多了", "快多了", "稳多了", "清楚多了", "passed", "can log in", "can login",
    "log in now", "works now", "it's working", "working now", "no problem", "no issue",
    "就过了", "审核过了", "验证过了", "通过了", "通过", "已发", "已发布", "已上传", "发了", "进来了",
    "躺着", "在里面", "有结果", "unlocked", "大法好", "好顺", "got it", "搜啥都有", "搜什么都有", "都搜得到", "很清楚", "挺清楚", "很清晰", "挺清晰", "就好了", "就好", "有播放量", "嗖嗖", "飞快", "贼快", "is back", "back online",
    "back up", "came back"]
#: Things that, affirmed, mean the problem is still there (negated: it is gone).
SYMPTOMS = [
    "卡顿", "卡住", "卡死", "卡成", "卡爆", "卡", "掉线", "断线", "断网", "断开", "断流", "断了", "掉了",
    "闪退", "报错", "出错", "错误", "失败", "黑屏", "白屏", "花屏", "转圈", "一直加载", "加载中", "延迟", "缓冲",
    "慢", "异常", "模糊", "糊", "锁着", "锁定", "被锁", "冻结", "封号", "问题", "毛病", "故障", "bug",
    "lag", "laggy", "buffering", "stuck", "freez", "crash", "error", "drop", "掉帧", "没声音", "没画面",
    "黑的", "空的", "打不开", "刷不出", "加载不出", "一直转", "提示密码错误", "验证码错误", "不显示",
    "踢出", "被踢", "封禁", "封了", "限制", "是灰的", "灰色", "变灰", "红灯", "是红的", "亮红", "没网",
    "无网络", "没信号", "没有网", "掉过线", "断过网", "断过", "卡过", "不相关", "对不上", "时好时坏", "时断时续", "一会好一会", "断",
    "被踢出来", "踢出来", "踢下线", "踢掉", "一直红", "变红", "红了", "红色", "闪", "损坏", "循环",
    "一卡一卡", "跳回", "弹回", "又跳", "操作频繁", "稍后再试", "坏一会", "不存在", "不给力", "empty"]
#: The problem restated: what follows did not change.
STILL = ["还是", "依然", "依旧", "仍然", "仍旧", "照样", "照旧", "老样子", "原样", "一个样", "一样",
         "问题还在", "没变", "没变化", "没有变化", "没改善", "没有改善", "没区别", "没差别", "没啥变化",
         "没什么变化", "白搞", "白弄", "白试", "白忙", "白折腾", "still", "same", "again", "还不行",
         "还没好", "老问题", "又来了", "继续"]
_STILL_PLAIN = re.compile(_alt(STILL))
#: 还是 between two nouns in a question means "or": 手机号还是抖音号？
_OR = re.compile(r"还是(?![不没卡断掉一老那个])")
#: 还 / 又 before a symptom or a negation: 还卡, 还在转圈, 又断了, 又不行了
_STILL_CHAR = re.compile(r"(?:还|又)(?=在?(?:" + _alt(SYMPTOMS) + r"|不|没|是|会|得|要|那样|开始|出现|有点|有些|有问题|让|叫|提示|弹|出))")
#: Plainly negative words.
NEGATIVES = ["不行", "不可以", "没用", "没啥用", "没什么用", "无用", "没效果", "没啥效果", "无效", "没反应",
             "没动静", "没解决", "未解决", "没好", "不好使", "不管用", "不顶用", "不灵", "白费", "不太行",
             "不大行", "不咋行", "不咋地", "不咋样", "不怎么样", "没戏", "凉了", "废了", "拉胯", "不得行",
             "够呛", "没成", "没辙", "不好", "不ok", "没有用", "没有效果", "useless", "no luck", "nope",
             "didn't help", "didnt help", "not really", "doesn't", "didn't", "not working", "broken",
             "still broken", "fail", "failed", "删了", "删掉了", "清掉了", "被清", "过期", "超过30天",
             "一个都没", "啥都没", "什么都没", "都没了", "全没了", "没了", "丢了", "不在", "没找着",
             "别的办法", "其他办法", "其它办法", "别的方法", "其他方法", "其它方法", "下一步", "怎么办",
             "还有什么办法", "换个方法", "换个办法", "还能怎么", "接下来怎么", "烦死", "崩溃", "无语",
             "服了", "垃圾", "气死", "坑爹", "不对劲", "不太对", "打不通", "收不到", "进不去",
             "上不去", "不动", "不见了", "不对", "没人接", "没反应", "通不过", "过不去", "不过去", "无变化",
             "没有好", "没网", "一直让", "总让", "老让", "didnt work",
             "didn't work", "doesnt work", "not found", "no backup", "nothing found", "still not",
             "not work", "cant", "can't", "cannot", "dont", "isnt", "wasnt", "wont", "寄了", "寄",
             "凉凉", "麻了", "裂开", "挂了", "验证不过", "审核不过", "过不了", "没有什么用", "没有啥用",
             "nothing changed", "no change", "no difference", "same as before", "still the same",
             "都不过", "还是不过", "never got", "never received", "didn't get", "didnt get",
             "did not get", "haven't got", "havent got", "no code", "拿什么", "用什么恢复", "一直提示", "一直显示",
             "一直弹", "了个寂寞", "个寂寞", "卵用", "鸟用", "屁用", "毫无用处", "没用处", "没来", "没收到",
             "没发过来", "无任何变化", "没任何变化", "没有任何变化", "毫无变化", "不是这个问题", "不是这个原因", "次数太多", "次数过多", "未注册", "没注册", "没有注册"]
#: Negative facts (not verdicts): inside a question they are what is asked about.
FACTS = {"删了", "删掉了", "清掉了", "被清", "过期", "超过30天", "没了", "丢了", "不在", "不见了"}
#: Partial fixes: a part found, a little better.
PARTIAL = re.compile(
    r"(?:只|才|仅|就)(?:找|恢复|找回|回来|好|成功|传)了?(?:一部分|部分|一半|几|一些|一点|个别)|"
    r"(?:只|仅)(?:有)?(?:找到|找回|恢复|回来|传上去|发出去)了?|"
    r"(?:一部分|部分|一半|有些|有的|个别|几个|少数|其中)(?:找到|恢复|回来|好了|可以|能|成功|找回)|"
    r"(?:找到|恢复|找回|回来|成功)了?(?:一部分|部分|一半|一些|几个|少数|个别)|"
    r"(?<!好)好了?(?:一部分|部分|一半|一些|少数|个别)")  # not 好几个 (several)
#: A little better, not fixed: leans worked but is not sure.
SLIGHTLY_BETTER = re.compile(r"好(?:一|了一)?(?:点|些)|稍微好|略好|有点改善|有所(?:改善|好转)|改善了?一?(?:点|些)|"
                             r"没(?:之前|以前|刚才)那么|a bit better|slightly better|better")
#: Reading the symptom away: 卡顿没了, 掉线的问题解决了
_SYMPTOM_GONE = re.compile(r"(?:" + _alt(SYMPTOMS) + r")(?:的问题|的情况|的现象)?(?:也|都)?(?:没了|没有了|消失了?|不见了|已经?(?:修好|解决|排除|好了|恢复))")
#: A person, please.
HUMAN_WORDS = ["转人工", "人工", "真人", "活人", "客服人员", "人工客服", "转客服", "找客服", "要客服",
               "联系客服", "叫客服", "给我客服", "接客服", "工作人员", "技术人员", "找个人",
               "叫个人", "来个真人", "找个客服", "要个客服", "换个客服", "来个客服", "要个人工", "来个人工", "和人说话", "跟人说话", "和人聊", "跟人聊", "你们的人", "找人工",
               "技术支持", "技术部门", "专员", "找人", "叫人", "来个人", "换个人", "投诉", "经理", "主管",
               "agent", "human", "real person", "operator", "representative", "staff", "someone",
               "打电话给我", "给我打电话", "打电话给你们", "给你们客服", "打给你们", "电话联系", "来电", "后台查", "你们帮我", "你们给我", "你们处理",
               "你们来", "你们查", "帮我查一下后台", "从服务器", "服务器端", "后台帮我"]
_HUMAN = re.compile(_alt(HUMAN_WORDS) + r"|(?:接|转|找|要|来|换|叫)(?:个|一个|下)?(?:客服|人工|真人)|(?:找|叫|让|转给|换|来|要)[^，,。.!！?？]{0,6}(?<![别家])(?:的人|人来|人处理|人帮|人看)")
_HUMAN_NEGATED = re.compile(r"(?:不用|不需要|不要|别|无需|没必要|用不着|不必)(?:再)?(?:帮我)?(?:转|找|叫|麻烦)?$")
_NOT_HUMAN = re.compile(r"人工智能|客服助手|(?:你|您|对面|这)(?:是|是不是)?(?:个)?(?:真人|人工|机器人|客服|ai|人)"
                        r"|(?<![转找要叫])(?:是)(?:真人|人工|机器人)(?:吗|么|嘛)")
#: Not tried yet.
PENDING_WORDS = ["还没试", "没试", "还没弄", "还没来得及", "还没操作", "还没做", "还没看", "还没找", "还没打",
                 "还没重启", "还没清", "还没更新", "没来得及", "等一下", "等下", "等会", "等一会", "稍等",
                 "等等", "马上", "我试试", "试试看", "我去试", "去试试", "我先试", "正在试", "正在弄", "在弄",
                 "在试", "弄一下", "一会儿再", "待会", "回头试", "还在重启", "正在重启", "在重启", "重启中",
                 "操作中", "先看看", "我看看", "我看一下", "找找看", "我找找", "我找一下", "正在找", "还在找",
                 "在找", "去找", "我去看", "先去", "let me try", "wait", "hold on",
                 "trying", "one sec", "give me a", "试一下", "再试试", "试试", "还没打通", "正在打",
                 "还在下载", "在下载", "还在更新", "在更新", "正在更新", "还在排队", "在排队", "还在等", "不在家",
                 "不在身边", "在外面", "出门了", "不在旁边", "在路上", "晚上再", "明天再", "回家再", "回家后",
                 "没空", "回头再", "改天", "过两天", "再说", "得先", "要先", "先找"]
_PENDING = re.compile(r"等我[^，,。.!！?？]*|" + _alt(PENDING_WORDS) + r"|正在(?:试|弄|重启|找|下载|更新|操作|安装|上传|恢复|清理|排队|等|打|联系|处理|验证|换)|再(?:传|试|弄|看|发|登|播|重启|打)(?:一下|试)?$|(?:没法|没办法|不方便|没空|没时间)(?:现在)?(?:重启|试|弄|操作|去|回|打电话|换|看)")
#: 还没 + a verb is "not done yet" unless what follows is the result (还没好, 还没找到).
_NOT_YET = re.compile(r"还没有?(?=[\u4e00-\u9fff])")
_NOT_YET_RESULT = re.compile(r"有?(?:好|解决|成功|恢复|用|效果|反应|变化|正常|动静|改善|稳定|流畅|消息|回复|收到|通)")
#: Whole replies that are just yes or no.
_PARTICLES = "啊呀啦哈吧呢哦噢嘛喔哇呐捏耶额呃~～!！。.,，…  "
#: 「嗯」 alone is a murmur, not a yes: it is asked about again (README, "Known limits").
YES_ALONE = {"好哒", "是", "是的", "是啊", "对", "对的", "对啊", "对头", "好", "好的", "好滴", "行", "可以", "可", "成", "中", "得", "没错",
             "确定", "确认", "当然", "必须", "必须的", "彳亍", "阔以", "是滴", "是嘞", "妥", "yes", "yep",
             "yeah", "yup", "y", "sure", "ok", "okay", "k", "kk", "好使", "有", "可以的", "对的对的",
             "是的是的", "嗯对", "对对", "对对对", "好嘞", "好了", "ja", "si"}
NO_ALONE = {"不中", "不能", "不可以", "不成", "没能", "不会", "不", "不是", "没", "没有", "木有", "莫得", "没得", "否", "不对", "并没有", "没呢", "还没", "还没有",
            "no", "nope", "nah", "n", "未", "无", "没啊", "没有啊", "并没", "不行", "no way"}
#: Emoji and symbols: 👌 is a yes, ❌ a no, 😭 leans no.
EMOJI_YES = "👌👍✅🆗💯🎉👏🙆✔☑🥳🚀"
EMOJI_NO = "❌👎🙅✖❎🚫"
EMOJI_SAD = "😭😢😞😩😫😤😡💔🤬😣😖😓😔🙁☹😰😥"
#: Questions: nothing answered, something asked.
_QUESTION = re.compile(r"[?？]|(?:吗|么|嘛)$|(?<![不没])怎么(?![^，,。.!！?？]{0,4}[都也])|多少|多大|多长|怎样|如何|哪(?![里儿]?都)|什么(?![^，,。.!！?？]{0,3}[都也])|啥(?![^，,。.!！?？]{0,3}[都也])|为什么|为啥|咋|多久|是否|(?<![那这前好过])几天|"
                       r"是不是|能不能|可不可以|要不要|有没有|会不会|行不行|好不好|对不对|需不需要|用不用|"
                       r"\b(?:how|where|what|why|which|when)\b")
#: A-not-A questions: the 不 / 没 in them negates nothing.
_A_NOT_A = re.compile(r"是不是|能不能|可不可以|要不要|有没有|会不会|行不行|好不好|对不对|需不需要|用不用|"
                      r"可以不可以|成不成|灵不灵|管不管用")
#: 动词+不+补语 (找不到, 登不上, 刷不出来, 恢复不了): cannot.
_CANNOT = re.compile(r"(?<![差对了怪巴说忍靠])不(?:上|尚|到|着|了|开|出|进|动|起|回|成|去|来|全|见|通|完|住|掉|进去|上去|出来|起来)"
                     r"(?!客气|错|好意思|行了吗)")
_NOT_NEGATION = re.compile(r"(?:啥|什么)(?:也|都)没(?:干|做|动|弄|碰)|垃圾(?:箱|邮件|短信|桶|信息)|不能说不[\u4e00-\u9fff]{1,3}|(?:急|气|高兴|开心|激动|吓|慌|担心|紧张)得不行|把[^，,。.!！?？]{0,10}(?:断了|断开|关了|关掉)|(?:其他|其它|别的|别人)(?:的)?(?:app|软件|应用|手机|设备|网站|平台|视频|直播间|人)[^，,。.!！?？;；]{0,10}(?:正常|可以|能用|没问题|好好的|流畅|很快|不卡|挺好)|(?:重新|重|又|再|多)(?:发|试|获取|登录|登|输|输入|上传|传|连|点)了?(?:(?:几|好几|好多|很多|多|无数|n|[一二两三四五六七八九十\d]+)(?:次|遍)|半天)|(?:重新|重|又)(?:发|试|获取|输|输入|上传|传)了(?:一下|一遍|一次)?|找不到(?:这个|那个)?(?:入口|按钮|选项|设置|位置|地方|菜单|在哪)|不好意思|不客气|不用谢|不错|没关系|没事儿?$|不断(?!了)|不停|不一定|说不定|"
                           r"了不起|对不起|不知道|不清楚|不懂|不会弄|不会操作|不太会|不明白|不确定|不敢|不小心|"
                           r"没想到|没注意|没看懂|没听懂|不要紧|不记得|记不得|记不清")
#: Words after which an earlier state is reported: the clause before it is history.
_CONTRAST = re.compile(r"但是|但|可是|可(?![以能用])|不过|然而|却|结果|后来|现在|目前|这下|终于|最后|然后|又|but|now|then")
#: "卡" in these is not a stutter.
_NOT_SYMPTOM = re.compile(r"是[^，,。.!！?？]{0,8}的问题|(?:广电|移动|联通|电信)的?卡|"
                          r"银行卡|信用卡|卡号|会员卡|sim卡|手机卡|电话卡|卡片|慢慢|慢点|加载完|加载好|加载出来|"
                          r"没问题|没毛病|问题解决|问题没了|提示成功|删掉|错误提示没")


#: Rhetorical and sarcastic denials: 这叫流畅？, 恢复个锤子, 好什么好.
_RHETORICAL = re.compile(r"这(?:也)?叫[^，,。.!！]{0,6}(?:[?？]|吗|$)|(?:好|恢复|流畅|正常|成功|解决|可以|行)"
                         r"(?:个什么|个啥|个|什么|啥)(?:锤子|屁|鬼|头|毛|好|啊)?(?=$|[，,。.!！?？~～])|好个(?:锤子|屁|鬼)|"
                         r"(?:呵呵|呵)[，,。.!！\s]*(?:好得很|真好|可以的|厉害)")
#: 不过 closing a clause is "does not pass" (刷脸都不过), not "but".
_NOT_PASSING = re.compile(r"不过(?=$|[，,。.!！~～?？])")
#: A new topic: 另外…, 顺便问一下…, 对了…
_NEW_TOPIC = re.compile(r"^(?:另外|顺便|对了|还有个问题|还有一个问题|还想问|再问一下|by the way|btw)")
#: 没有 / 不再 over a short noun phrase before the symptom: 没有网络错误提示了.
_NONE_OF = re.compile(r"(?:再也没有?|没有再|没再|不再|没有|没)[^\s，,。.!！?？不没还又老一]{0,4}?(?=(?:" + _alt(SYMPTOMS) + r"))")
#: 无法 / 没法 / 不能 + a verb: cannot.
_UNABLE = re.compile(r"(?:无法|没法|没办法|不能|不可以|没能)(?:正常)?[\u4e00-\u9fff]")
#: "no backup found", "nothing there"
_EN_NONE = re.compile(r"\bno\s+\w+(?:\s+\w+)?\s+(?:found|there|left|at all)\b|\bnothing\s+(?:there|found|works?)\b")
#: 没 / 没有 with nothing better to say about it: the thing asked about is not there.
_ABSENT = re.compile(r"没有?|木有|莫得")
#: A new fact after "but" that is negative: 能搜了但结果完全不相关.
_BUT_NOT = re.compile(r"(?:但是?|可是|不过|就是|只是|but)[^，,。.!！?？]*?(不|没|n't|not)")
#: Told to wait or to try later: the step has not worked (让我明天再试).
_TOLD_TO_WAIT = re.compile(r"(?:让我|叫我|要我|提示我?)[^，,。.!！?？]{0,6}(?:再试|稍后|明天|过会|等)[^，,。.!！?？]{0,4}")
#: A remaining flaw the user accepts: 就是画质没那么清楚，能接受.
_ACCEPTED = re.compile(r"(?<![不没])(?:能接受|可以接受|还能接受|不影响(?:使用|看|播|直播|观看)?|无所谓|能忍)")
#: Better than before: 网速比以前还快.
_BETTER_THAN = re.compile(r"比(?:以前|之前|原来|平时|刚才|昨天|上次)(?:还|更|都)?(?:快|稳|流畅|顺|好|清楚|清晰)(?![一点些])")
#: A concession that the symptom is gone: 卡是不卡了(，就是…).
_CONCESSION = re.compile(r"([\u4e00-\u9fff]{1,2})是(?:不|没|没有)(?:再)?\1了?")
#: "never arrives", "never loaded"
_EN_NEVER = re.compile(r"\bnever\s+(?:arrive[sd]?|came|comes?|got|gets?|received?|shows?|showed|loads?|loaded|works?|worked|came back)\b")
#: Someone else's word, not the user's result: 运营商说他们那边没问题.
_REPORTED = r"说是|(?:运营商|客服|师傅|他们|对方|工作人员|售后|人家|电信|移动|联通|宽带|装维|朋友|同事)(?:那边|的人)?(?:说|讲|表示|回复|告诉我|反馈)"
#: The present, told after the past.
_NOW = re.compile(r"现在|这次|这回|目前|终于|now|this time")
#: Clauses about the past, or told by someone else: 刚才是信号不好 explains, it does not answer.
_HISTORY = re.compile(r"(?:" + _REPORTED + r"|以为|早上|上午|中午|昨晚|前天|前两天|上周|刚开始|(?:重启|重置|重装|更新|升级|清理|修|换|调整|设置|操作|切换|改)(?:之)?前(?![面台天])|(?<!比)原来(?![的那这账号手机])|刚(?=好了|能|可以|连上|登上|恢复)|刚才|刚刚|(?<!比)之前(?!的)|(?<!比)以前(?!的)|本来|一开始|开始的时候|开始时|昨天|前面|上次|earlier|before)"
                      r"(?:(?!现在|这次|这回|目前|终于|now)[^，,。.!！?？;；\s])*")
#: 问题 meaning "a question", not "a problem".
_ASKING = re.compile(r"一个问题|(?<!不是这)(?<!不是那)个问题|问个|问一下|请问|想问|问题是|顺便问")


#: Patterns whose every match is one signal: (pattern, kind, strength, cue).
_PLAIN_SIGNALS = (
    (PARTIAL, NEG, STRONG, "partial"),
    (_SYMPTOM_GONE, POS, STRONG, "gone"),
    (SLIGHTLY_BETTER, POS, WEAK, "better"),
    (_NOT_PASSING, NEG, STRONG, "neg"),
    (_RHETORICAL, NEG, STRONG, "neg"),
    (_EN_NONE, NEG, STRONG, "neg"),
    (_EN_NEVER, NEG, STRONG, "neg"),
    (_BETTER_THAN, POS, STRONG, "better-than"),
    (_ACCEPTED, POS, STRONG, "accepted"),
    (_TOLD_TO_WAIT, NEG, STRONG, "neg"),
    (_CONCESSION, POS, STRONG, "gone"),
    (_UNABLE, NEG, STRONG, "cannot"),
    (_ABSENT, NEG, STRONG, "absent"),
)
# fmt: on


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def _inside(span: tuple[int, int], taken: Sequence[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b and (a, b) != span for a, b in taken)


def _negated(text: str, start: int) -> int | None:
    """Where the negation of the word at ``start`` begins, or None if it is not negated."""
    window = max(0, start - 8)
    match = _NEGATED_BEFORE.search(text[window:start])
    return window + match.start() if match else None


_COMPLETION_RE = re.compile(
    r"还在(?=$|[的呢啊呀，,。.!！~～])|[看找登连打用进搜刷播传发]得(?:到|着|上|见|开|了|进|出来)|"
    + _alt(COMPLETIONS)
    + r"|[搜找登连传发刷看播收接进弄装打翻开](?:到|着|上|好|出来|进去|上去|通|成)了?|登录到|登录上"
)
_SYMPTOM_RE = re.compile(_alt(SYMPTOMS))
_NEGATIVE_RE = re.compile(_alt(NEGATIVES))
_ABILITY = re.compile(
    r"(?<!一)(?<!多)(?<!才)(?<!只)(?:能|可以|阔以|能够|会)(?!儿)(?!再)(?!找人|找客服|转人工)(?:正常)?[^不没又还卡断掉，,。.!！?？\s]{0,5}了"
)


def _signals(text: str, phrases: Mapping[str, Sequence[str]]) -> list[Signal]:
    """Every answer signal in ``text`` (normalised), in order of position."""
    found: list[Signal] = []
    masked = _A_NOT_A.sub(lambda m: "□" * len(m.group()), text)
    masked = _NOT_NEGATION.sub(lambda m: "□" * len(m.group()), masked)
    masked = _NOT_HUMAN.sub(lambda m: "□" * len(m.group()), masked)
    masked = _ASKING.sub(lambda m: "□" * len(m.group()), masked)

    # the editor's phrases for this step come first: they know the step
    for label, kind in (
        (Verdict.WORKED.value, POS),
        (Verdict.FAILED.value, NEG),
        (Verdict.HUMAN.value, HUMAN),
    ):
        for phrase in phrases.get(label, ()) or ():
            norm = normalize(phrase)
            for match in re.finditer(re.escape(norm), masked) if norm else ():
                negator = _negated(masked, match.start()) if kind != HUMAN else None
                if negator is None:
                    found.append(
                        Signal(kind, match.start(), match.end(), STRONG, f"phrase:{phrase}")
                    )
                else:  # 「没进首页了」 is the opposite of the phrase 「进首页了」
                    found.append(
                        Signal(
                            NEG if kind == POS else POS,
                            negator,
                            match.end(),
                            STRONG,
                            f"phrase:not {phrase}",
                        )
                    )

    for start, end in _spans(_HUMAN, masked):
        if not _HUMAN_NEGATED.search(masked[max(0, start - 6) : start]):
            found.append(Signal(HUMAN, start, end, STRONG, f"human:{masked[start:end]}"))
    for start, end in _spans(_PENDING, masked):
        found.append(Signal(PENDING, start, end, STRONG, f"pending:{masked[start:end]}"))
    for match in _NOT_YET.finditer(masked):
        rest = masked[match.end() :]
        if not _NOT_YET_RESULT.match(rest) and not _COMPLETION_RE.match(rest):
            verb_match = re.match(r"[\u4e00-\u9fff]{1,2}", rest)
            end = match.end() + (verb_match.end() if verb_match else 0)
            found.append(
                Signal(
                    PENDING, match.start(), end, STRONG, f"pending:{masked[match.start() : end]}"
                )
            )
    asks = bool(_QUESTION.search(masked))
    for start, end in _spans(_STILL_PLAIN, masked) + _spans(_STILL_CHAR, masked):
        cue = (
            "or"
            if asks and (_OR.match(masked, start) or masked.startswith("一样", start))
            else "still"
        )
        found.append(Signal(NEG, start, end, STRONG, f"{cue}:{masked[start:end]}"))
    for start, end in _spans(_CANNOT, masked):
        verb = max(0, start - 1)
        negator = _negated(masked, verb)
        if negator is not None and (
            re.search(r"不会|再", masked[negator:verb])
            or (masked.startswith("不是", negator) and masked.startswith("了", end))
            or re.match(r"[\u4e00-\u9fff]{0,2}的(?:情况|问题|现象|地方|时候|功能)", masked[end:])
        ):
            # 不会再登不上了: it will not fail again
            found.append(Signal(POS, negator, end, STRONG, f"no-recurrence:{masked[negator:end]}"))
        else:
            found.append(Signal(NEG, verb, end, STRONG, f"cannot:{masked[verb:end]}"))
    for start, end in _spans(_NEGATIVE_RE, masked):
        word = masked[start:end]
        found.append(
            Signal(NEG, start, end, STRONG, f"{'fact' if word in FACTS else 'neg'}:{word}")
        )
    symptom_free = _NOT_SYMPTOM.sub(lambda m: "□" * len(m.group()), masked)
    none_of = {m.end(): m.start() for m in _NONE_OF.finditer(symptom_free)}
    for start, end in _spans(_SYMPTOM_RE, symptom_free):
        negator = _negated(symptom_free, start)
        if negator is None and start in none_of:
            negator = none_of[start]
        if negator is not None:
            found.append(Signal(POS, negator, end, STRONG, f"no-symptom:{masked[negator:end]}"))
        else:
            found.append(Signal(NEG, start, end, STRONG, f"symptom:{masked[start:end]}"))
    for pattern in (_COMPLETION_RE, _ABILITY):
        for start, end in _spans(pattern, masked):
            negator = _negated(masked, start)
            if (
                negator is not None
                and negator == start - 1
                and masked[negator] == "不"
                and negator > 0
                and "\u4e00" <= masked[negator - 1] <= "\u9fff"
                and _CANNOT.match(masked, negator)
            ):
                continue  # 传不上去了 is the verb's "cannot", read by _CANNOT (不会传不上去了)
            if negator is not None:
                found.append(Signal(NEG, negator, end, STRONG, f"not:{masked[negator:end]}"))
            else:
                found.append(Signal(POS, start, end, STRONG, f"done:{masked[start:end]}"))
    for pattern, kind, strength, cue in _PLAIN_SIGNALS:
        for start, end in _spans(pattern, masked):
            found.append(Signal(kind, start, end, strength, f"{cue}:{masked[start:end]}"))
    for match in _BUT_NOT.finditer(masked):
        found.append(Signal(NEG, match.start(1), match.end(1), STRONG, f"but-not:{match.group()}"))
    for index, char in enumerate(text):
        if char in EMOJI_YES:
            found.append(Signal(POS, index, index + 1, STRONG, f"emoji:{char}"))
        elif char in EMOJI_NO:
            found.append(Signal(NEG, index, index + 1, STRONG, f"emoji:{char}"))
        elif char in EMOJI_SAD:
            found.append(Signal(NEG, index, index + 1, WEAK, f"emoji:{char}"))

    # a signal inside a longer one gives way (没找着 is one NEG, not 没 + 找着), and of two
    # overlapping ones the negative stands (恢复不了, 被踢出来了)
    spans = [(s.start, s.end) for s in found]
    kept = [s for s in found if s.kind == HUMAN or not _inside((s.start, s.end), spans)]
    editor = [s for s in kept if s.cue.startswith("phrase")]
    kept = [
        s
        for s in kept
        if s in editor or not any(e.start < s.end and s.start < e.end for e in editor)
    ]
    kept = [s for s in kept if not any(_beats(o, s) for o in kept)]
    # 没恢复正常: the negation reaches the completion right after it
    kept = [
        s
        for s in kept
        if not (
            s.kind == POS
            and s.cue.startswith("done")
            and any(o.cue.startswith("not") and o.end == s.start for o in kept)
        )
    ]
    # at one place the negative reading of a completion beats the positive one
    kept.sort(key=lambda s: (s.start, -s.end))
    return kept


#: Acknowledgements that answer nothing: 好吧, 知道了, 算了.
# fmt: off
ACKNOWLEDGED = {"好的收到", "收到收到", "好吧", "行吧", "那好吧", "好的吧", "算了", "算了吧", "知道了", "好的我知道了", "我知道了", "明白了",
                "明白", "收到", "了解", "懂了", "哦", "噢", "喔", "哦哦", "噢噢", "额", "呃", "嗯?", "嗯？", "emmm",
                "emm", "em", "hmm", "hm", "ok?"}
# fmt: on
_REPEAT = re.compile(r"^(.{1,3}?)\1+$")


def _beats(one: Signal, other: Signal) -> bool:
    """Of two partly overlapping signals of opposite kinds, which stands: a negation
    (恢复不了, 没恢复) always, otherwise the one that begins first (解封了, 被踢出来了)."""
    if (
        one.kind == other.kind
        or HUMAN in (one.kind, other.kind)
        or not (one.start < other.end and other.start < one.end)
        or _inside((one.start, one.end), [(other.start, other.end)])
        or _inside((other.start, other.end), [(one.start, one.end)])
    ):
        return False
    negation = ("cannot", "not")
    if one.cue.startswith(negation) != other.cue.startswith(negation):
        return one.cue.startswith(negation)
    return one.start < other.start


def _bare(text: str) -> Judgement | None:
    """A reply that is only a yes, a no, an acknowledgement or emoji."""
    raw = re.sub(r"^(?:哈|呵|嘿|嘻)+[\s,，]*", "", text.strip()) or text.strip()
    if raw in ACKNOWLEDGED or raw.rstrip("。.!！~～") in ACKNOWLEDGED:
        return Judgement(Verdict.OTHER, cue=f"ack:{raw}")
    core = raw
    for emoji in EMOJI_YES + EMOJI_NO + EMOJI_SAD:
        core = core.replace(emoji, "")
    hesitant = bool(re.search(r"…|\.\.\.|。。", core))
    core = core.strip(_PARTICLES + "?？")
    core = re.sub(r"^(?:嗯|恩|哦|噢)+[\s,，]*(?=\S)", "", core)  # 「嗯嗯 可以」
    repeated = _REPEAT.match(core)
    if repeated:
        core = repeated.group(1)
    if not core:
        if any(e in raw for e in EMOJI_YES) and not any(e in raw for e in EMOJI_NO + EMOJI_SAD):
            return Judgement(Verdict.WORKED, cue=f"emoji:{raw}")
        if any(e in raw for e in EMOJI_NO + EMOJI_SAD) and not any(e in raw for e in EMOJI_YES):
            return Judgement(Verdict.FAILED, cue=f"emoji:{raw}")
        return Judgement(Verdict.OTHER, cue=f"nothing:{raw}")
    if core in YES_ALONE:
        if hesitant or re.search(r"[?？]", raw):  # 「嗯…」, 「好？」: not a yes
            return Judgement(Verdict.OTHER, cue=f"bare?:{raw}", question=True)
        return Judgement(Verdict.WORKED, cue=f"bare:{core}")
    if core in NO_ALONE:
        return Judgement(Verdict.FAILED, cue=f"bare:{core}")
    return None


#: What might happen, not what did: 卡了再来找你, 如果还断的话.
_HYPOTHETICAL = re.compile(
    r"(?:如果|要是|万一|假如|假设|若是|再有|下次)[^，,。.!！?？;；]*|"
    r"[^，,。.!！?？;；\s]*(?:了|的话)再(?:来|找|联系|说|问)[^，,。.!！?？;；]*"
)


def _history_spans(text: str) -> list[tuple[int, int]]:
    """Clauses about the past, someone else's word, and what might happen: they count only
    when nothing else in the reply answers."""
    return _spans(_HISTORY, text) + _spans(_HYPOTHETICAL, text)


def _decide(signals: list[Signal], text: str) -> tuple[Judgement, Signal | None]:
    """The last decisive signal wins; a person asked for wins over everything."""
    every = signals
    humans = [s for s in signals if s.kind == HUMAN]
    if humans:
        return Judgement(Verdict.HUMAN, cue=humans[-1].cue), humans[-1]
    # what a clause about the past says counts only when nothing else does
    history = _history_spans(text)
    current = [s for s in signals if not any(a <= s.start < b for a, b in history)]
    if any(s.kind in (POS, NEG) and s.strength == STRONG for s in current):
        signals = current
    elif history and current != signals and _NOW.search(text):
        # 「刚才一直提示密码错误，这次一次就进了」: the past is told, the present not read
        return Judgement(Verdict.UNSURE, cue="history-only"), None
    else:  # 「原来大写锁定开着」 explains a cause: it says nothing of the result
        signals = [
            s
            for s in signals
            if not any(a <= s.start < b and text.startswith("原来", a) for a, b in history)
        ]
    answers = [s for s in signals if s.kind in (POS, NEG)]
    strong = [s for s in answers if s.strength == STRONG]
    pending = [s for s in signals if s.kind == PENDING]
    after_pending = [
        s
        for s in strong
        if pending and s.start > pending[-1].start and not s.cue.startswith("absent")
    ]
    if pending and not after_pending:
        return Judgement(Verdict.OTHER, cue=pending[-1].cue, pending=True), pending[-1]
    if strong:
        last = strong[-1]
        # "好了一点" after "不行" is not a fix
        weak_after = [
            s
            for s in answers
            if s.strength == WEAK and s.start > last.start and not s.cue.startswith("emoji")
        ]
        if weak_after and weak_after[-1].kind != last.kind:
            return Judgement(
                Verdict.UNSURE, lean=_verdict(weak_after[-1].kind), cue=weak_after[-1].cue
            ), weak_after[-1]
        # a contrary reading right before, with no comma or contrast word between
        earlier = [
            s
            for s in strong
            if s.kind != last.kind and s.end <= last.start and not s.cue.startswith("fact")
        ]
        if (
            earlier
            and not _CONTRAST.search(text[earlier[-1].end : last.start])
            and not re.search(r"[，,。.!！~～\s;；、]", text[earlier[-1].end : last.start])
        ):
            if last.kind == NEG:  # "好了又断" / "找到了一部分没找到": what is left is broken
                return Judgement(Verdict.FAILED, cue=last.cue), last
            return Judgement(Verdict.UNSURE, lean=Verdict.WORKED, cue=last.cue), last
        if last.kind == POS and _contradicted(last, strong, text):
            # 「上传失败，发布成功了」: success is declared only when nothing says otherwise
            return Judgement(
                Verdict.UNSURE, lean=Verdict.WORKED, cue=f"contradicted:{last.cue}"
            ), last
        if last.kind == POS and _unread_negation(last, every, text):
            # 「妹有成功」: a negation the rules do not know, right before the success
            return Judgement(
                Verdict.UNSURE, lean=Verdict.WORKED, cue=f"negation-near:{last.cue}"
            ), last
        return Judgement(_verdict(last.kind), cue=last.cue), last
    if answers:
        return Judgement(
            Verdict.UNSURE, lean=_verdict(answers[-1].kind), cue=answers[-1].cue
        ), answers[-1]
    return Judgement(Verdict.OTHER, cue="", question=bool(_QUESTION.search(text))), None


def _contradicted(last: Signal, strong: Sequence[Signal], text: str) -> bool:
    """True when a negative reading stands elsewhere in the reply with no contrast word
    (但, 现在, 其实…) between it and the positive one that would decide."""
    for other in strong:
        if (
            other.kind != NEG
            or other.cue.startswith(("fact", "absent"))
            or (last.cue.startswith("accepted") and other.start < last.start)
        ):
            continue
        first, second = sorted((other, last), key=lambda s: s.start)
        between = text[first.end : second.start]
        if not _CONTRAST.search(between) and not re.search(
            r"已经|其实|只是|就是|是|所以|之后|以后|后|完|刚才|刚刚|第二次|再次", between
        ):
            return True
    return False


#: Characters that may negate in words the rules do not list (妹有, 无从, 冇得).
_NEGATION_CHAR = re.compile(r"[没不无未别冇妹莫否非]")
#: Words with those characters that negate nothing.
_NOT_NEGATING_WORDS = re.compile(
    r"识别|区别|分别|告别|特别|级别|类别|别人|别的|非常|无论|无线|不少|不错|没少|"
    r"不到\d|未来|姐妹|妹妹|莫名"
)


def _unread_negation(last: Signal, signals: Sequence[Signal], text: str) -> bool:
    """True when a negation-like character stands right before the completion that would
    decide, and no signal read it (「妹有成功」, 「无从恢复」 before 无从 was listed)."""
    if not last.cue.startswith("done"):
        return False
    text = _NOT_NEGATING_WORDS.sub(lambda m: "□" * len(m.group()), text)
    for match in _NEGATION_CHAR.finditer(text, max(0, last.start - 3), last.start):
        if not any(s.start <= match.start() < s.end for s in signals):
            return True
    return False


def _verdict(kind: str) -> Verdict:
    return Verdict.WORKED if kind == POS else Verdict.FAILED


#: Cues that answer even inside a question: 「怎么还是不行？」 failed.
_ANSWERING_CUES = ("still", "neg", "cannot", "partial", "bare", "emoji", "phrase", "but-not")


# fmt: off
#: Dialect and chat spellings read as standard words before the rules (木有 → 没有).
DIALECT = {"木有": "没有", "莫得": "没有", "没得": "没有", "么有": "没有", "冇": "没有", "阔以": "可以",
           "咋": "怎么", "啥子": "什么", "整不了": "弄不了", "中不中": "行不行", "整好了": "弄好了",
           # Cantonese (after OpenCC: 係 → 系)
           "唔得": "不行", "得咗": "可以了", "唔该": "谢谢", "多谢晒": "谢谢", "搞掂": "搞定", "唔系": "不是",
           "都系": "还是", "仲系": "还是", "系咪": "是不是", "咗": "了", "唔": "不", "仲": "还", "晒": "全",
           "冇问题": "没问题", "冇事": "没事", "冇用": "没用", "冇咗": "没了", "好晒": "好了", "正长": "正常", "登路": "登录",
           "已经号了": "已经好了", "修号": "修好", "弄号了": "弄好了", "得喇": "可以了", "得啦": "可以了", "好返": "好了", "搵": "找", "妹有": "没有", "美有": "没有", "揾": "找", "登陆": "登录", "喇": "了",
           "噜": "了", "喺": "在", "嘢": "东西", "可已": "可以", "木问题": "没问题",
           # pinyin typed without the input method, and voice-input homophones
           "haole": "好了", "hao le": "好了", "keyile": "可以了", "keyi": "可以", "buxing": "不行",
           "bu xing": "不行", "meiyong": "没用", "meiyou": "没有", "mei you": "没有", "haishibuxing": "还是不行",
           "dengbushang": "登不上", "lianbushang": "连不上", "zhaobudao": "找不到", "zhaodaole": "找到了",
           "jiejuele": "解决了", "zhuanrengong": "转人工", "rengong": "人工", "chenggongle": "成功了",
           "流唱": "流畅", "好哒": "好的", "不型": "不行", "不形": "不行", "木得": "没有", "登陆不尚": "登录不上", "号了号了": "好了好了"}
# fmt: on
_DIALECT = re.compile(r"(?<![a-z])(?:" + _alt(DIALECT) + r")(?![a-z])|^号了")
#: An answer is short; a longer text is judged on its beginning.
MAX_CHARS = 300


def judge(text: str, context: StepContext | None = None) -> Judgement:
    """What ``text`` means as the reply to the open step's check question."""
    context = context or StepContext()
    norm = _DIALECT.sub(lambda m: DIALECT.get(m.group(), "好了"), normalize(text)[:MAX_CHARS])
    if not norm:
        return Judgement(Verdict.OTHER)
    bare = _bare(norm)
    if bare is not None:
        if bare.cue.startswith("bare:") and asks_about_the_problem(context.question):
            # 「还会卡吗？」 「是的」: yes, it still does
            flipped = Verdict.FAILED if bare.verdict == Verdict.WORKED else Verdict.WORKED
            return Judgement(
                flipped, cue=f"bare:{norm} (the question asks about the problem)", tied=True
            )
        return replace(bare, tied=bare.verdict in (Verdict.WORKED, Verdict.FAILED))
    signals = _signals(norm, context.phrases)
    judgement = _leading_answer(norm, _read(signals, norm))
    tied = any(
        s.kind in (POS, NEG) and not s.cue.startswith(REPORT_CUES) for s in signals
    ) or judgement.cue.startswith("leading")
    return replace(judgement, tied=tied)


#: A first clause that answers plainly (「没有，…」, 「是的，…」); the yes words leave out 好 / 好的 /
#: ok, which acknowledge as often as they answer (「好的，我试试」).
_LEADING_YES = {
    "是的",
    "是啊",
    "对",
    "对的",
    "对啊",
    "可以",
    "可以的",
    "没错",
    "yes",
    "yep",
    "yeah",
}
_FIRST_CLAUSE = re.compile(r"^([^，,。.!！;；~～\s]+)[，,。.!！;；~～\s]+(?=\S)")


def _leading_answer(norm: str, judgement: Judgement) -> Judgement:
    """What a plain first clause says, weighed against the rest: 「没有，运营商说他们那边没问题」 is
    a no whatever the rest tells; a rest that says the opposite with no contrast word makes the
    reply uncertain rather than turned around; 「没，现在好了」 (a contrast) is the rest's."""
    match = _FIRST_CLAUSE.match(norm)
    if not match or judgement.verdict == Verdict.HUMAN or judgement.pending:
        return judgement
    first, rest = match.group(1), norm[match.end() :]
    lead = _bare(first)
    if lead is None or not lead.cue.startswith("bare:"):
        return judgement
    if lead.verdict == Verdict.WORKED and (
        first.strip(_PARTICLES) not in _LEADING_YES or _QUESTION.search(rest)
    ):
        return judgement
    if (
        lead.verdict not in (Verdict.WORKED, Verdict.FAILED)
        or _CONTRAST.search(rest)
        or re.search(r"已经|其实|只是", rest)
    ):
        return judgement
    if judgement.verdict in (Verdict.OTHER, Verdict.UNSURE) and not judgement.question:
        return Judgement(lead.verdict, cue=f"leading:{first}")
    if judgement.verdict in (Verdict.WORKED, Verdict.FAILED) and judgement.verdict != lead.verdict:
        return Judgement(
            Verdict.UNSURE, lean=lead.verdict, cue=f"leading:{first} against {judgement.cue}"
        )
    return judgement


#: Cues a problem report has as well as an answer (卡, 失败, 找不到, 没有): on their own they do
#: not tie a reply to the open step.
REPORT_CUES = ("symptom", "fact", "cannot", "absent")


def _read(signals: list[Signal], norm: str) -> Judgement:
    """:func:`_decide`, then what a new topic or a question changes."""
    judgement, decisive = _decide(signals, norm)
    if (
        _NEW_TOPIC.search(norm)
        and judgement.verdict != Verdict.HUMAN
        and not judgement.cue.startswith(("still", "phrase"))
    ):
        return Judgement(Verdict.OTHER, cue="new-topic")
    if decisive is not None and judgement.verdict in (
        Verdict.WORKED,
        Verdict.FAILED,
        Verdict.UNSURE,
    ):
        asked = any(a <= decisive.start < b for a, b in _question_clauses(norm))
        if asked and not decisive.cue.startswith(_ANSWERING_CUES):
            # 「清晰度在哪里调？」, 「为什么我的号会被锁？」: a question, not an answer
            return Judgement(Verdict.OTHER, cue=decisive.cue, question=True)
    return judgement


#: A button of the check question carries its intent; it needs no judging.
BUTTON_VERDICTS = {"affirm": Verdict.WORKED, "deny": Verdict.FAILED, "request_human": Verdict.HUMAN}
#: A problem report this sure, of another playbook, is a new problem, not an answer.
NEW_PROBLEM_CONFIDENCE = 0.7


def read_reply(
    text: str,
    context: StepContext | None = None,
    *,
    intent: str | None = None,
    confidence: float = 0.0,
    starts_other_playbook: bool = False,
) -> Judgement:
    """The reply as the assistant reads it while the step is open: :func:`judge` with what
    the NLU said. A button carries its intent; a confident report of another playbook's
    problem with nothing tying it to this step is a new problem (OTHER), not an answer."""
    if (text or "").strip().startswith("/"):
        return Judgement(BUTTON_VERDICTS.get(intent or "", Verdict.OTHER), cue=f"button:{intent}")
    judgement = judge(text, context)
    if (
        judgement.verdict in (Verdict.FAILED, Verdict.UNSURE, Verdict.OTHER)
        and not judgement.tied
        and starts_other_playbook
        and confidence >= NEW_PROBLEM_CONFIDENCE
    ):
        return Judgement(Verdict.OTHER, cue=f"new-problem:{intent}")
    return judgement


_PROBLEM_QUESTION = re.compile(
    r"(?:还|仍|依然|是否还|会不会)[^，,。?？]{0,6}(?:" + _alt(SYMPTOMS) + r")"
)


def asks_about_the_problem(question: str) -> bool:
    """True when the check question asks whether the problem is still there (「还会卡吗？」),
    so that a bare 「是」 means it did not work. The shipped playbooks ask "did it work?"."""
    return bool(question) and bool(_PROBLEM_QUESTION.search(normalize(question)))


def _question_clauses(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every clause that asks something."""
    clauses, start = [], 0
    for match in re.finditer(r"[，,。.!！~～;；]|$", text):
        if (
            _QUESTION.search(text, start, match.end() if match.group() in "?？" else match.start())
            or "?" in text[start : match.end()]
            or "？" in text[start : match.end()]
        ):
            clauses.append((start, match.end()))
        start = match.end()
        if start >= len(text):
            break
    return clauses
